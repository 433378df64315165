"""The `dayshift` console script, run as a user runs it: ingest, search, status, and its errors.

One folder of good and bad files is ingested once per module into a temporary --data-dir; the
tests then read the index through the other commands. Output is checked as text (the Rich
tables, at a width wide enough not to wrap) and as --json.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest
from cli_runner import run

LOCKED_PDF = Path(__file__).resolve().parents[1] / "fixtures" / "locked.pdf"
BAD = {  # file -> (kind, a fragment of its fix)
    "corpus/locked.pdf": ("encrypted", "qpdf --decrypt"),
    "corpus/garbage.pdf": ("malformed", "re-export"),
    "corpus/broken.jsonl": ("malformed", "fix or remove line 2"),
    "corpus/empty.md": ("empty", "run OCR"),
}
GOOD = ["corpus/alpha.md", "corpus/bravo.txt", "corpus/rows.csv#t1", "corpus/rows.csv#t2"]


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("cli") / "corpus"
    root.mkdir()
    (root / "alpha.md").write_text(
        "# Alpha handbook\n\nThe lighthouse keeper of Varrowmere writes down every passing ship.\n"
    )
    (root / "bravo.txt").write_text(
        "Bravo notes\n\nThe lighthouse keeper at Quellhaven polishes the great lens every night.\n"
    )
    (root / "rows.csv").write_text(
        "id,title,body,region\n"
        "t1,Terns,Arctic terns cross the glimmerwave ocean twice in a single year.,north\n"
        "t2,Vents,Volcanic vents near Thornbury release sulphur plumes after dark.,south\n"
    )
    shutil.copyfile(LOCKED_PDF, root / "locked.pdf")
    (root / "garbage.pdf").write_bytes(bytes(range(256)) * 4)
    (root / "broken.jsonl").write_text('{"id": 1, "text": "a fine first record of this export"}\n{"id": 2, "te\n')
    (root / "empty.md").write_bytes(b"")
    return root


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("cli-data") / "index"


@pytest.fixture(scope="module")
def first_ingest(corpus: Path, data_dir: Path) -> subprocess.CompletedProcess[str]:
    return run(data_dir, "ingest", str(corpus))


def test_ingest_with_bad_files_exits_1_and_prints_what_failed_and_the_fix(
    first_ingest: subprocess.CompletedProcess[str], corpus: Path
) -> None:
    out = first_ingest.stdout
    assert first_ingest.returncode == 1, first_ingest.stderr
    assert f"{corpus.resolve()}: 7 files" in out
    assert "4 added" in out and "4 failed" in out and "0 deleted" in out
    assert "Failed files" in out
    rows = {line.split("│")[1].strip(): line for line in out.splitlines() if line.count("│") >= 3}
    for source, (kind, fix) in BAD.items():
        assert source in rows, f"{source} missing from the failures table:\n{out}"
        assert f"{kind}:" in rows[source] and fix in rows[source], rows[source]
    assert not any(good.split("#")[0] in rows for good in GOOD)


def test_ingest_json_reports_counts_and_failures(
    first_ingest: subprocess.CompletedProcess[str], corpus: Path, data_dir: Path
) -> None:
    again = run(data_dir, "ingest", str(corpus), "--json")
    assert again.returncode == 1, again.stderr  # the bad files are still bad
    (report,) = json.loads(again.stdout)
    assert report["root"] == str(corpus.resolve())
    assert report["counts"] == {
        "added": 0, "updated": 0, "unchanged": 4, "deleted": 0, "failed": 4, "duplicates": 0,
        "unsupported": 0, "files": 7, "chunks_written": 0, "chunks_embedded": 0, "chunks_cached": 0,
    }
    failed = {f["source"]: f for f in report["failed"]}
    assert set(failed) == set(BAD)
    for source, (kind, fix) in BAD.items():
        assert failed[source]["kind"] == kind and fix in failed[source]["fix"] and failed[source]["reason"]


def test_search_with_a_source_filter_finds_the_file_and_excludes_the_others(
    first_ingest: subprocess.CompletedProcess[str], data_dir: Path
) -> None:
    result = run(data_dir, "search", "lighthouse keeper", "--k", "3", "--where", "source=bravo")
    assert result.returncode == 0, result.stderr
    assert "corpus/bravo.txt" in result.stdout and "Quellhaven" in result.stdout
    assert "corpus/alpha.md" not in result.stdout and "Varrowmere" not in result.stdout

    exact = run(data_dir, "search", "lighthouse keeper", "--k", "3", "--mode", "keyword",
                "--where", "source=corpus/alpha.md", "--json")
    assert exact.returncode == 0, exact.stderr
    assert [h["source"] for h in json.loads(exact.stdout)["hits"]] == ["corpus/alpha.md"]

    metadata = run(data_dir, "search", "ocean plumes", "--mode", "keyword", "--where", "region=south", "--json")
    assert metadata.returncode == 0, metadata.stderr
    assert [h["doc_id"] for h in json.loads(metadata.stdout)["hits"]] == ["corpus/rows.csv#t2"]


def test_search_json_parses_and_ranks_both_matching_files(
    first_ingest: subprocess.CompletedProcess[str], data_dir: Path
) -> None:
    result = run(data_dir, "search", "lighthouse keeper", "--k", "3", "--json")
    assert result.returncode == 0, result.stderr
    payload = json.loads(result.stdout)
    hits = payload["hits"]
    assert 2 <= len(hits) <= 3
    assert [h["rank"] for h in hits] == list(range(1, len(hits) + 1))
    assert {h["source"] for h in hits[:2]} == {"corpus/alpha.md", "corpus/bravo.txt"}
    assert all(set(h) >= {"score", "chunk_id", "doc_id", "source", "title", "section", "page", "text"} for h in hits)
    assert payload["timings_ms"]["total"] > 0


def test_status_shows_documents_chunks_last_sync_and_failures(
    first_ingest: subprocess.CompletedProcess[str], corpus: Path, data_dir: Path
) -> None:
    table = run(data_dir, "status")
    assert table.returncode == 0, table.stderr
    out = table.stdout
    assert "4 documents" in out and "4 chunks" in out and "3 files ok, 4 failed" in out
    assert "last sync" in out and str(corpus.resolve()) in out
    assert "document versions indexed" in out and "Recent syncs" in out
    assert "Failing files" in out
    for source, (kind, fix) in BAD.items():
        line = next((row for row in out.splitlines() if source in row), None)
        assert line is not None and f"{kind}:" in line and fix in line, out

    as_json = run(data_dir, "status", "--json")
    assert as_json.returncode == 0, as_json.stderr
    data = json.loads(as_json.stdout)
    assert (data["documents"], data["chunks"], data["duplicates"]) == (4, 4, 0)
    assert (data["sources_ok"], data["sources_failed"]) == (3, 4)
    assert data["space"] == "sentence-transformers/all-MiniLM-L6-v2"
    assert data["last_sync"]["root"] == str(corpus.resolve())
    assert data["last_sync"]["counts"]["failed"] == 4 and data["last_sync"]["finished"]
    assert data["versions"] >= 4 and data["runs"][0] == data["last_sync"]  # 4 documents added, at least once
    assert {f["source"]: f["kind"] for f in data["failures"]} == {s: k for s, (k, _) in BAD.items()}
    assert all(f["reason"] and f["fix"] for f in data["failures"])


def test_status_of_an_empty_index_says_it_never_synced(tmp_path: Path) -> None:
    result = run(tmp_path / "nothing", "status")
    assert result.returncode == 0, result.stderr
    assert "0 documents" in result.stdout and "never synced" in result.stdout and "dayshift ingest" in result.stdout


def test_bad_filter_is_a_clear_error_with_exit_code_2(first_ingest: subprocess.CompletedProcess[str],
                                                       data_dir: Path) -> None:
    result = run(data_dir, "search", "lighthouse", "--where", "nonsense")
    assert result.returncode == 2
    assert result.stdout == ""
    assert 'cannot read the filter "nonsense"' in result.stderr
    assert "source=nist" in result.stderr  # says how to write one
    assert "Traceback" not in result.stderr


def test_bad_mode_is_a_usage_error(first_ingest: subprocess.CompletedProcess[str], data_dir: Path) -> None:
    result = run(data_dir, "search", "lighthouse", "--mode", "fuzzy")
    assert result.returncode == 2
    assert "hybrid, keyword or dense" in result.stderr and "Traceback" not in result.stderr


def test_ingesting_a_path_that_does_not_exist_is_a_clear_error(tmp_path: Path) -> None:
    missing = tmp_path / "no-such-folder"
    result = run(tmp_path / "index", "ingest", str(missing))
    assert result.returncode == 2
    assert f"{missing} does not exist" in result.stderr and "pass a folder or file" in result.stderr
    assert "Traceback" not in result.stderr
