"""SQuAD 2.0 and BEIR imports from the shared data sets: the cases match the source files, and ingesting the
written corpus the way a user does (`dayshift ingest DIR`) gives exactly the document ids the cases expect."""

from __future__ import annotations

import gzip
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import typer
from typer.testing import CliRunner

from dayshift.assemble import open_embedder, open_ingestor
from dayshift.cli.eval_data import import_cmd
from dayshift.embed.base import Embedder
from dayshift.errors import ConfigError
from dayshift.evals.cases import load_dataset
from dayshift.evals.importers import detect_format, import_beir, import_squad
from dayshift.settings import Settings, load_settings


@pytest.fixture(scope="module")
def squad_file(shared_data: Path) -> Path:
    path = shared_data / "squad2" / "dev-v2.0-part-a.json.gz"
    if not path.exists():
        pytest.skip(f"needs {path} (set DAYSHIFT_SHARED_DATA to the folder holding squad2/)")
    return path


@pytest.fixture(scope="module")
def squad_questions(squad_file: Path) -> dict[str, tuple[str, dict[str, Any]]]:
    """squad id -> (article title, question) from the file itself."""
    with gzip.open(squad_file, "rt", encoding="utf-8") as handle:
        data = json.load(handle)["data"]
    return {q["id"]: (a["title"], q) for a in data for p in a["paragraphs"] for q in p["qas"]}


@pytest.fixture(scope="module")
def embedder(tmp_path_factory: pytest.TempPathFactory) -> Embedder:
    return open_embedder(load_settings(data_dir=tmp_path_factory.mktemp("embed")))


def _ingested_doc_ids(corpus: Path, data_dir: Path, embedder: Embedder) -> set[str]:
    """Ingest `corpus` as `dayshift ingest corpus` does, and return the stored document ids."""
    settings = load_settings(data_dir=data_dir)
    ingestor = open_ingestor(settings, embedder=embedder)
    report = ingestor.sync(corpus)
    assert report.ok, report.failed
    return set(ingestor.store.document_versions())


def test_squad_cases_follow_the_file(squad_file: Path, squad_questions: dict[str, Any], tmp_path: Path) -> None:
    result = import_squad(squad_file, corpus_dir=tmp_path / "squad2-corpus", articles=2, limit=40, seed=7)
    assert result.documents == 2 and len(result.cases) == 40
    titles = {c.origin["article"] for c in result.cases}
    assert sorted(p.name for p in (tmp_path / "squad2-corpus").iterdir()) == sorted(f"{t}.txt" for t in titles)
    for case in result.cases:
        title, q = squad_questions[case.origin["squad_id"]]
        assert case.id == f"squad2-{q['id']}" and case.question == q["question"].strip()
        assert case.answerable is (not q["is_impossible"])
        assert case.expected_answers == list(dict.fromkeys(a["text"].strip() for a in q["answers"]))
        assert case.expected_sources == [f"squad2-corpus/{title}.txt"]
        assert case.tags == ["squad2", title] + ([] if case.answerable else ["unanswerable"])
        assert case.status == "accepted"
    assert any(not c.answerable for c in result.cases) and any(len(c.expected_answers) > 1 for c in result.cases)
    assert all(len(set(c.expected_answers)) == len(c.expected_answers) for c in result.cases)


def test_squad_articles_are_written_title_first_paragraph_by_paragraph(squad_file: Path, tmp_path: Path) -> None:
    import_squad(squad_file, corpus_dir=tmp_path / "c", articles=1, seed=0)
    (written,) = (tmp_path / "c").iterdir()
    with gzip.open(squad_file, "rt", encoding="utf-8") as handle:
        article = next(a for a in json.load(handle)["data"] if f"{a['title']}.txt" == written.name)
    blocks = written.read_text().split("\n\n")
    assert blocks[0] == article["title"].replace("_", " ")
    assert [b.strip() for b in blocks[1:]] == [p["context"].strip() for p in article["paragraphs"]]


def test_the_same_seed_draws_the_same_sample(squad_file: Path, tmp_path: Path) -> None:
    ids = [[c.id for c in import_squad(squad_file, corpus_dir=tmp_path / f"c{i}", articles=3, limit=15,
                                       seed=seed).cases] for i, seed in enumerate((1, 1, 2))]
    assert ids[0] == ids[1] and ids[0] != ids[2]


def test_squad_sources_are_the_ids_ingest_gives(squad_file: Path, tmp_path: Path, embedder: Embedder) -> None:
    result = import_squad(squad_file, corpus_dir=tmp_path / "squad2-corpus", articles=1, limit=10, seed=3)
    stored = _ingested_doc_ids(result.corpus_dir, tmp_path / "index", embedder)
    assert {s for c in result.cases for s in c.expected_sources} == stored


def test_beir_cases_follow_the_qrels(scifact_dir: Path, tmp_path: Path, embedder: Embedder) -> None:
    result = import_beir(scifact_dir, corpus_dir=tmp_path / "scifact-corpus", limit=5, distractors=6, seed=0)
    qrels: dict[str, set[str]] = {}
    for line in (scifact_dir / "qrels" / "test.tsv").read_text().splitlines()[1:]:
        query_id, doc_id, score = line.split("\t")
        if int(score) > 0:
            qrels.setdefault(query_id, set()).add(doc_id)
    queries = {q["_id"]: q["text"] for q in map(json.loads, (scifact_dir / "queries.jsonl").read_text().splitlines())}
    assert len(result.cases) == 5
    for case in result.cases:
        query_id = case.origin["query_id"]
        assert case.id == f"scifact-{query_id}" and case.question == queries[query_id]
        assert {s.rsplit("#", 1)[1] for s in case.expected_sources} == qrels[query_id]
        assert case.answerable and case.expected_answers == [] and case.tags == ["beir", "scifact", "test"]
    judged = {s for c in result.cases for s in c.expected_sources}
    rows = (tmp_path / "scifact-corpus" / "corpus.jsonl").read_text().splitlines()
    assert result.documents == len(rows) == len(judged) + 6
    stored = _ingested_doc_ids(result.corpus_dir, tmp_path / "index", embedder)
    assert judged <= stored and len(stored) == len(rows)
    assert all(s.startswith("scifact-corpus/corpus.jsonl#") for s in stored)


def test_formats_are_told_apart_and_bad_input_is_explained(squad_file: Path, scifact_dir: Path,
                                                           tmp_path: Path) -> None:
    assert detect_format(squad_file) == "squad" and detect_format(scifact_dir) == "beir"
    with pytest.raises(ConfigError, match="neither a SQuAD 2.0 file"):
        detect_format(tmp_path)
    (tmp_path / "other.json").write_text('{"version": "v2.0"}')
    with pytest.raises(ConfigError, match="is not SQuAD 2.0 JSON"):
        import_squad(tmp_path / "other.json", corpus_dir=tmp_path / "c")
    with pytest.raises(ConfigError, match="choose a split that exists: test, train"):
        import_beir(scifact_dir, corpus_dir=tmp_path / "c", split="dev")


@pytest.fixture
def cli(tmp_path: Path) -> Iterator[tuple[typer.Typer, Path]]:
    app = typer.Typer()
    data_dir = tmp_path / "data"

    @app.callback()
    def _root(ctx: typer.Context) -> None:
        ctx.obj = Settings(data_dir=data_dir)

    app.command("import")(import_cmd)
    yield app, data_dir


def test_the_import_command_writes_adds_and_says_what_next(cli: tuple[typer.Typer, Path], squad_file: Path,
                                                           tmp_path: Path) -> None:
    app, data_dir = cli
    args = ["import", "--squad", str(squad_file), "--corpus", str(tmp_path / "squad2-corpus"),
            "--out", str(tmp_path / "evals" / "squad2.jsonl"), "--articles", "1", "--limit", "8"]
    first = CliRunner().invoke(app, args)
    assert first.exit_code == 0, first.output
    assert "wrote 1 article to" in first.output and "added 8 of 8 cases" in first.output
    assert f"next: dayshift --data-dir {data_dir} ingest {tmp_path / 'squad2-corpus'}" in first.output
    assert len(load_dataset(tmp_path / "evals" / "squad2.jsonl").cases) == 8
    again = CliRunner().invoke(app, args)
    assert again.exit_code == 0 and "added 0 of 8 cases" in again.output and "8 already there" in again.output
    both = CliRunner().invoke(app, [*args, "--beir", str(tmp_path)])
    assert both.exit_code == 2 and "give one of --squad FILE or --beir FOLDER" in both.output
