"""Lay out a public BEIR dataset for benchmarks/beir.py, outside the repository.

    python benchmarks/datasets/layout.py SOURCE [--name NAME] [--data-root DIR]

SOURCE is a dataset as BEIR publishes it: its zip (nfcorpus.zip, fiqa.zip, ...: a folder with
corpus.jsonl, queries.jsonl and qrels/{test,dev,train}.tsv) or that folder unpacked. The result,
under --data-root (default: DAYSHIFT_BEIR_DATA, else ../beir-data beside the repository), is the
layout of ../shared/data/beir/scifact:

    NAME/corpus.jsonl.gz        {"_id", "title", "text"} per line, as published
    NAME/queries_test.jsonl     the queries judged in qrels/test.tsv
    NAME/queries.jsonl          every query (the train and dev splits fit fusions, never test)
    NAME/qrels/<split>.tsv      query-id, corpus-id, score (header kept)
    NAME/manifest.json          source file and its SHA-256, counts, mean words per document and query

Nothing here is committed: fetched data stays out of git (benchmarks/datasets/README.md lists
where each public copy came from and its license). Bad input names the file and what is missing.
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import io
import json
import os
import statistics
import sys
import zipfile
from collections.abc import Iterator
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
DEFAULT_ROOT = REPO.parent / "beir-data"
# MD5 of the zips on BEIR's download server, as BEIR lists them beside each link: a copy from
# elsewhere (a mirror, a repository) that matches is byte for byte the published one.
PUBLISHED_MD5 = {
    "nfcorpus": "a89dba18a62ef92f7d323ec890a0d38d",
    "fiqa": "17918ed23cd04fb15047f73e6c3bd9d9",
    "arguana": "8ad3e3c2a5867cdced806d6503f29b99",
    "trec-covid": "ce62140cb23feb9becf6270d0d1fe6d1",
    "webis-touche2020": "46f650ba5a527fc69e0a6521c5a23563",
    "nq": "d4d3d2e48787a744b6f6e691ff534307",
    "hotpotqa": "f412724f78b0d91183a0e86805e16114",
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("source", type=Path, help="a BEIR dataset zip, or the folder it unpacks to")
    parser.add_argument("--name", default=None, help="folder name (default: the dataset's own)")
    parser.add_argument("--data-root", type=Path, default=Path(os.environ.get("DAYSHIFT_BEIR_DATA", DEFAULT_ROOT)))
    args = parser.parse_args()
    manifest = lay_out(args.source, root=args.data_root, name=args.name)
    print(json.dumps(manifest, indent=2))


def lay_out(source: Path, *, root: Path, name: str | None = None) -> dict[str, object]:
    files = _read_source(source)
    name = name or _dataset_name(source)
    target = root / name
    (target / "qrels").mkdir(parents=True, exist_ok=True)
    corpus = _member(files, source, "corpus.jsonl")
    queries = _member(files, source, "queries.jsonl")
    splits = {p.rsplit("/", 1)[-1][: -len(".tsv")]: data for p, data in files.items() if "/qrels/" in f"/{p}"}
    if "test" not in splits:
        raise SystemExit(f"{source}: no qrels/test.tsv; a BEIR dataset judges its test queries there")
    doc_words = _check_corpus(corpus, source)
    with gzip.open(target / "corpus.jsonl.gz", "wb") as handle:
        handle.write(corpus)
    (target / "queries.jsonl").write_bytes(queries)
    for split, data in splits.items():
        (target / "qrels" / f"{split}.tsv").write_bytes(data)
    test_ids = {line.split("\t")[0] for line in splits["test"].decode().splitlines()[1:] if line.strip()}
    rows = [json.loads(line) for line in queries.decode().splitlines() if line.strip()]
    test_rows = [q for q in rows if q["_id"] in test_ids]
    (target / "queries_test.jsonl").write_text("".join(json.dumps(q) + "\n" for q in test_rows), encoding="utf-8")
    manifest = {
        "name": name, "source": str(source), "source_sha256": _digest(source, "sha256"),
        "matches_published_zip": _matches_published(source),
        "documents": len(doc_words), "document_words_mean": round(statistics.fmean(doc_words), 1),
        "test_queries": len(test_rows),
        "query_words_mean": round(statistics.fmean(len(q["text"].split()) for q in test_rows), 1) if test_rows else 0,
        "qrels": {split: len(data.decode().splitlines()) - 1 for split, data in splits.items()},
    }  # fmt: skip
    (target / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    return manifest


def _read_source(source: Path) -> dict[str, bytes]:
    """relative path -> bytes, from a zip or a folder (a top-level folder in the zip is stripped)."""
    if source.is_dir():
        return {p.relative_to(source).as_posix(): p.read_bytes() for p in source.rglob("*") if p.is_file()}
    if not zipfile.is_zipfile(source):
        raise SystemExit(f"{source}: not a zip or a folder; pass a BEIR dataset zip or the folder it unpacks to")
    with zipfile.ZipFile(source) as archive:
        names = [n for n in archive.namelist() if not n.endswith("/")]
        prefix = os.path.commonprefix(names).rpartition("/")[0]
        return {n[len(prefix) + 1 if prefix else 0 :]: archive.read(n) for n in names}


def _member(files: dict[str, bytes], source: Path, name: str) -> bytes:
    for candidate in (name, f"{name}.gz"):
        if candidate in files:
            data = files[candidate]
            return gzip.decompress(data) if candidate.endswith(".gz") else data
    raise SystemExit(f"{source}: no {name} (or {name}.gz) at its top level; is it a BEIR dataset?")


def _check_corpus(corpus: bytes, source: Path) -> list[int]:
    """Words per document; every line must be a JSON object with a unique `_id` and a `text`."""
    seen: set[str] = set()
    words: list[int] = []
    for number, line in enumerate(_lines(corpus), start=1):
        try:
            doc = json.loads(line)
            doc_id, text = str(doc["_id"]), doc["text"]
        except (ValueError, KeyError, TypeError) as exc:
            raise SystemExit(f"{source}: corpus.jsonl line {number} is not {{\"_id\", \"title\", \"text\"}} ({exc!r})") from exc
        if doc_id in seen:
            raise SystemExit(f"{source}: corpus.jsonl line {number} repeats the id {doc_id!r}")
        seen.add(doc_id)
        words.append(len(f"{doc.get('title', '')} {text}".split()))
    if not words:
        raise SystemExit(f"{source}: corpus.jsonl is empty")
    return words


def _lines(data: bytes) -> Iterator[str]:
    for line in io.TextIOWrapper(io.BytesIO(data), encoding="utf-8"):
        if line.strip():
            yield line


def _dataset_name(source: Path) -> str:
    return source.name[: -len(".zip")] if source.suffix == ".zip" else source.name


def _matches_published(source: Path) -> bool | None:
    """True/False: the zip is/is not byte for byte BEIR's published one; None: no published MD5 to compare
    (a folder, or a dataset not in PUBLISHED_MD5). A repacked zip can hold the same data: the manifest says
    which it is, and the counts beside it tell whether the data differ."""
    expected = PUBLISHED_MD5.get(_dataset_name(source))
    return None if expected is None or not source.is_file() else _digest(source, "md5") == expected


def _digest(path: Path, algorithm: str) -> str | None:
    if not path.is_file():
        return None
    digest = hashlib.new(algorithm)
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


if __name__ == "__main__":
    sys.exit(main())
