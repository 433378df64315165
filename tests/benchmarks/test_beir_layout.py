"""benchmarks/datasets/layout.py: a BEIR zip (as published: one top folder) laid out as the shared SciFact copy."""

from __future__ import annotations

import gzip
import json
import sys
import zipfile
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parents[2] / "benchmarks" / "datasets"))

import layout

CORPUS = [
    {"_id": "d1", "title": "Tides", "text": "The moon pulls the oceans."},
    {"_id": "d2", "title": "", "text": "Honey bees dance to tell the hive where flowers are."},
]
QUERIES = [{"_id": "q1", "text": "why are there tides"}, {"_id": "q2", "text": "bees"}, {"_id": "q3", "text": "x y"}]


def write_zip(path: Path, *, corpus: list[dict[str, str]] = CORPUS) -> Path:
    with zipfile.ZipFile(path, "w") as archive:
        top = path.name[: -len(".zip")]
        archive.writestr(f"{top}/corpus.jsonl", "".join(json.dumps(d) + "\n" for d in corpus))
        archive.writestr(f"{top}/queries.jsonl", "".join(json.dumps(q) + "\n" for q in QUERIES))
        archive.writestr(f"{top}/qrels/test.tsv", "query-id\tcorpus-id\tscore\nq1\td1\t1\n")
        archive.writestr(f"{top}/qrels/train.tsv", "query-id\tcorpus-id\tscore\nq2\td2\t1\nq3\td2\t0\n")
    return path


def test_a_zip_is_laid_out_with_its_test_queries_and_a_manifest(tmp_path: Path) -> None:
    source = write_zip(tmp_path / "tiny.zip")
    manifest = layout.lay_out(source, root=tmp_path / "data")
    target = tmp_path / "data" / "tiny"
    with gzip.open(target / "corpus.jsonl.gz", "rt", encoding="utf-8") as handle:
        assert [json.loads(line) for line in handle] == CORPUS
    assert [json.loads(line)["_id"] for line in (target / "queries_test.jsonl").open()] == ["q1"]
    assert {p.name for p in (target / "qrels").iterdir()} == {"test.tsv", "train.tsv"}
    assert manifest["documents"] == 2 and manifest["test_queries"] == 1 and manifest["qrels"] == {"test": 1, "train": 2}
    assert manifest["matches_published_zip"] is None  # no published checksum for "tiny"
    assert len(str(manifest["source_sha256"])) == 64
    assert json.loads((target / "manifest.json").read_text()) == manifest


def test_a_zip_named_like_a_published_one_is_checked_against_its_md5(tmp_path: Path) -> None:
    manifest = layout.lay_out(write_zip(tmp_path / "nfcorpus.zip"), root=tmp_path / "data")
    assert manifest["matches_published_zip"] is False  # the same name, other bytes


def test_bad_corpus_lines_name_the_file_and_the_line(tmp_path: Path) -> None:
    repeated = write_zip(tmp_path / "dup.zip", corpus=[*CORPUS, CORPUS[0]])
    with pytest.raises(SystemExit, match=r"dup.zip: corpus.jsonl line 3 repeats the id 'd1'"):
        layout.lay_out(repeated, root=tmp_path / "data")
    no_text = write_zip(tmp_path / "notext.zip", corpus=[{"_id": "d1", "title": "t"}])
    with pytest.raises(SystemExit, match=r"notext.zip: corpus.jsonl line 1 is not"):
        layout.lay_out(no_text, root=tmp_path / "data")
    (tmp_path / "plain.txt").write_text("hello")
    with pytest.raises(SystemExit, match="not a zip or a folder"):
        layout.lay_out(tmp_path / "plain.txt", root=tmp_path / "data")
