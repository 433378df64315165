"""Ingestor.sync end to end on real files: add, unchanged, change, touch, delete, rename, bad
input, duplicates, crash safety (a SIGKILLed sync in a subprocess) and search while a sync writes.

Every test writes its own small folder under tmp_path and gets its own data_dir; the bundled
embedder (all-MiniLM-L6-v2 on torch) is built once per module. Each check looks at three
things: the SyncReport, what search returns, and the rows of the store itself (index.sqlite),
so that a stale or half-written document cannot hide behind a report that looks right.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import closing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

import dayshift.ingest.engine as engine_module
from dayshift.assemble import open_embedder, open_ingestor, open_retriever
from dayshift.embed.base import Embedder
from dayshift.errors import ConfigError
from dayshift.ingest.chunk import ChunkingPolicy, chunk_document
from dayshift.ingest.clean import clean_document
from dayshift.ingest.loaders import LoadOptions, loader_for
from dayshift.ingest.report import Duplicate, SyncReport
from dayshift.ingest.sync import Ingestor
from dayshift.retrieve.retriever import Retriever
from dayshift.settings import Settings, load_settings
from dayshift.types import Hit

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures"
LOCKED_PDF = FIXTURES / "locked.pdf"  # a real RC4-encrypted one-page PDF (user password "secret")
NICS = "fbi_nics_background_checks_2015-11.pdf"  # the smallest shared PDF: one page, one table

# -- fixtures and helpers ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def embedder() -> Embedder:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    return open_embedder(load_settings())


@dataclass
class Lab:
    """One folder to ingest (`root`, synced as "docs") and one index (`data_dir`)."""

    root: Path
    data_dir: Path
    settings: Settings
    embedder: Embedder
    ingestor: Ingestor
    _readers: list[Retriever] = field(default_factory=list)

    def write(self, name: str, content: str | bytes) -> Path:
        path = self.root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content, encoding="utf-8")
        return path

    def sync(self) -> SyncReport:
        return self.ingestor.sync(self.root)

    def reader(self) -> Retriever:
        """A retriever with its own store connection, as another process would have."""
        retriever = open_retriever(self.settings, embedder=self.embedder)
        self._readers.append(retriever)
        return retriever

    def search(self, query: str, *, k: int = 10, mode: str | None = None) -> list[Hit]:
        return self.reader().search(query, k=k, mode=mode).hits  # type: ignore[arg-type]

    def chunks(self) -> dict[str, list[tuple[int, str, str]]]:
        return store_chunks(self.data_dir)

    def close(self) -> None:
        for retriever in self._readers:
            retriever.store.close()  # type: ignore[attr-defined]
        self.ingestor.store.close()  # type: ignore[attr-defined]
        self.ingestor.catalog.close()
        if self.ingestor.cache is not None:
            self.ingestor.cache.close()


@pytest.fixture
def make_lab(tmp_path: Path, embedder: Embedder) -> Iterator[Callable[..., Lab]]:
    labs: list[Lab] = []

    def make(**ingest: Any) -> Lab:
        root = tmp_path / "docs"
        root.mkdir(exist_ok=True)
        settings = load_settings(data_dir=tmp_path / "data", **({"ingest": ingest} if ingest else {}))
        lab = Lab(root, tmp_path / "data", settings, embedder, open_ingestor(settings, embedder=embedder))
        labs.append(lab)
        return lab

    yield make
    for lab in labs:
        lab.close()


def store_chunks(data_dir: Path) -> dict[str, list[tuple[int, str, str]]]:
    """doc_id -> [(ordinal, doc_version, text)] in ordinal order, read straight from index.sqlite."""
    path = data_dir / "index.sqlite"
    if not path.exists():
        return {}
    out: dict[str, list[tuple[int, str, str]]] = {}
    with closing(sqlite3.connect(path, timeout=60)) as db:
        try:
            rows = db.execute("SELECT doc_id, ordinal, doc_version, text FROM chunks ORDER BY doc_id, ordinal")
            for doc_id, ordinal, version, text in rows:
                out.setdefault(doc_id, []).append((ordinal, version, text))
        except sqlite3.OperationalError as exc:  # the writer has not created the schema yet
            if "no such table" not in str(exc):
                raise
    return out


def catalog_documents(data_dir: Path) -> dict[str, tuple[str, str, int]]:
    """doc_id -> (version, status, chunks) from catalog.sqlite."""
    path = data_dir / "catalog.sqlite"
    if not path.exists():
        return {}
    with closing(sqlite3.connect(path, timeout=60)) as db:
        try:
            rows = db.execute("SELECT doc_id, version, status, chunks FROM documents").fetchall()
        except sqlite3.OperationalError:
            return {}
    return {doc_id: (version, status, chunks) for doc_id, version, status, chunks in rows}


def change_log_head(data_dir: Path) -> int:
    with closing(sqlite3.connect(data_dir / "index.sqlite")) as db:
        return int(db.execute("SELECT COALESCE(MAX(seq), 0) FROM changes").fetchone()[0])


def assert_no_half_documents(data_dir: Path) -> dict[str, tuple[str, int]]:
    """Every stored document is whole: ordinals 0..n-1, one version, and the catalog (where it
    has the document) agrees on version and chunk count; every document the catalog calls
    indexed is in the store. Returns doc_id -> (version, chunks) of the store."""
    catalog = catalog_documents(data_dir)  # read first: the catalog is written after the store
    stored = {}
    for doc_id, rows in store_chunks(data_dir).items():
        assert [r[0] for r in rows] == list(range(len(rows))), f"{doc_id}: ordinals {[r[0] for r in rows]}"
        versions = {r[1] for r in rows}
        assert len(versions) == 1, f"{doc_id}: chunks of {len(versions)} versions in the store"
        stored[doc_id] = (versions.pop(), len(rows))
    for doc_id, (version, status, chunks) in catalog.items():
        if status != "indexed":
            continue
        assert doc_id in stored, f"the catalog has {doc_id} as indexed but the store has none of its chunks"
        if stored[doc_id][0] == version:
            assert stored[doc_id][1] == chunks, f"{doc_id}: {stored[doc_id][1]} chunks stored, catalog says {chunks}"
    return stored


def sources(hits: list[Hit]) -> list[str]:
    return [h.chunk.source for h in hits]


_WORDS = (
    "river stone market winter garden letter copper window harbor signal engine orchard ladder meadow "
    "pocket silver candle bridge thunder violet marble compass feather lantern canyon velvet anchor "
    "falcon timber meadow basket cobble saddle quarry mirror tunnel ember glacier pepper walnut"
).split()


def prose(seed: int, words: int) -> str:
    """Deterministic filler text in sentences of ten words."""
    rng = random.Random(seed)
    picked = [rng.choice(_WORDS) for _ in range(words)]
    sentences = [" ".join(picked[i : i + 10]) for i in range(0, words, 10)]
    return " ".join(s[0].upper() + s[1:] + "." for s in sentences)


def write_mixed_corpus(lab: Lab) -> None:
    lab.write(
        "guide.md",
        "# Field guide\n\nThe zorblax lattice hums at midnight near the old mill.\n\n"
        "## Care\n\nWater the quillfern twice a week and keep it out of direct sun.\n",
    )
    lab.write("notes.txt", "Notes on the brimwold ferry.\n\nThe ferry leaves the north pier at dawn every day.\n")
    lab.write(
        "rows.csv",
        "id,title,body\n"
        "r1,Terns,Arctic terns cross the glimmerwave ocean twice every single year.\n"
        "r2,Vents,Volcanic vents near Thornbury release sulphur plumes at night.\n"
        "r3,Bees,Mountain bees of Calderhollow build their hives inside hollow oaks.\n",
    )
    lab.write(
        "events.jsonl",
        '{"id": "e1", "title": "Festival", "text": "The quokkaroo festival gathers crowds by the river each summer."}\n'
        '{"id": "e2", "title": "Market", "text": "The saffronvale market sells spices and lanterns every Sunday."}\n',
    )


MIXED_IDS = {
    "docs/guide.md",
    "docs/notes.txt",
    "docs/rows.csv#r1",
    "docs/rows.csv#r2",
    "docs/rows.csv#r3",
    "docs/events.jsonl#e1",
    "docs/events.jsonl#e2",
}


# -- add, unchanged, change, touch ------------------------------------------------------------------


def test_first_sync_adds_every_document_and_makes_it_searchable(make_lab: Callable[..., Lab]) -> None:
    lab = make_lab()
    write_mixed_corpus(lab)
    lab.write("picture.xyz", "no loader reads this extension")
    report = lab.sync()

    assert set(report.added) == MIXED_IDS and len(report.added) == len(MIXED_IDS)
    assert (report.updated, report.deleted, report.failed, report.duplicates) == ([], [], [], [])
    assert report.unchanged == 0 and report.ok
    assert report.unsupported == ["docs/picture.xyz"] and report.files == 5
    stored = assert_no_half_documents(lab.data_dir)
    assert set(stored) == MIXED_IDS
    total_chunks = sum(n for _, n in stored.values())
    assert report.chunks_written == report.chunks_embedded == total_chunks and report.chunks_cached == 0

    for query, doc_id in [
        ("zorblax lattice", "docs/guide.md"),
        ("brimwold ferry", "docs/notes.txt"),
        ("glimmerwave", "docs/rows.csv#r1"),
        ("Calderhollow hives", "docs/rows.csv#r3"),
        ("quokkaroo festival", "docs/events.jsonl#e1"),
    ]:
        for mode in ("keyword", "hybrid"):
            hits = lab.search(query, k=3, mode=mode)
            assert hits and hits[0].chunk.doc_id == doc_id, (query, mode, [h.chunk.doc_id for h in hits])
    assert lab.search("sulphur plumes from volcanic vents", k=1, mode="dense")[0].chunk.doc_id == "docs/rows.csv#r2"

    stats = lab.ingestor.store.stats()  # what `dayshift status` shows
    assert (stats.documents, stats.chunks) == (len(MIXED_IDS), total_chunks)
    last = lab.ingestor.catalog.last_run()
    assert last is not None and last[0] == str(lab.root.resolve()) and last[2] is not None
    assert last[3] == report.counts() and last[3]["added"] == len(MIXED_IDS)
    assert {s.path for s in lab.ingestor.catalog.sources() if s.status == "ok"} == {
        "docs/guide.md", "docs/notes.txt", "docs/rows.csv", "docs/events.jsonl"
    }


def test_second_sync_without_changes_embeds_and_writes_nothing(make_lab: Callable[..., Lab]) -> None:
    lab = make_lab()
    write_mixed_corpus(lab)
    lab.sync()
    before, head = lab.chunks(), change_log_head(lab.data_dir)

    report = lab.sync()
    assert report.unchanged == len(MIXED_IDS)
    assert (report.added, report.updated, report.deleted, report.failed) == ([], [], [], [])
    assert (report.chunks_embedded, report.chunks_cached, report.chunks_written) == (0, 0, 0)
    assert report.ok
    assert lab.chunks() == before and change_log_head(lab.data_dir) == head  # not one row rewritten


def _long_guide(middle: str) -> str:
    sections = [f"## Part {i}\n\n{prose(seed=i, words=40)}" for i in range(1, 7)]
    sections[2] = f"## Part 3\n\n{middle}"
    return "# Long guide\n\n" + "\n\n".join(sections) + "\n"


def test_editing_one_paragraph_updates_that_document_only_and_leaves_no_stale_chunk(
    make_lab: Callable[..., Lab],
) -> None:
    lab = make_lab()
    write_mixed_corpus(lab)
    old = "The cobaltheron nests on the western cliffs in early spring and sings at dusk."
    new = "The vermilotter dives beneath the frozen lake and hunts until the sun rises."
    lab.write("long.md", _long_guide(old))
    lab.sync()
    reader = lab.reader()  # opened before the change: must follow it through the change log
    assert sources(reader.search("cobaltheron", k=3, mode="keyword").hits) == ["docs/long.md"]
    old_version, old_chunks = assert_no_half_documents(lab.data_dir)["docs/long.md"]
    assert old_chunks >= 5  # one chunk per section

    lab.write("long.md", _long_guide(new))
    report = lab.sync()
    assert report.updated == ["docs/long.md"]
    assert (report.added, report.deleted, report.failed) == ([], [], [])
    assert report.unchanged == len(MIXED_IDS)
    assert report.chunks_written == old_chunks
    assert report.chunks_embedded == 1  # only the edited section's chunk is new text ...
    assert report.chunks_cached == old_chunks - 1  # ... the others come from the embedding cache

    stored = assert_no_half_documents(lab.data_dir)
    assert stored["docs/long.md"][0] != old_version
    texts = [text for rows in lab.chunks().values() for _, _, text in rows]
    assert not any("cobaltheron" in t for t in texts) and any("vermilotter" in t for t in texts)
    for retriever in (reader, lab.reader()):  # the long-lived reader and a fresh one
        assert retriever.search("cobaltheron", k=10, mode="keyword").hits == []
        every_chunk = retriever.search(old, k=100, mode="dense").hits
        assert len(every_chunk) == sum(n for _, n in stored.values())
        assert not any("cobaltheron" in h.chunk.text for h in every_chunk)
        assert {h.chunk.doc_version for h in every_chunk if h.chunk.doc_id == "docs/long.md"} == {
            stored["docs/long.md"][0]
        }
        top = retriever.search("vermilotter", k=3, mode="keyword").hits
        assert top and top[0].chunk.doc_id == "docs/long.md" and "vermilotter" in top[0].chunk.text


def test_touch_or_same_bytes_rewrite_is_unchanged(make_lab: Callable[..., Lab]) -> None:
    lab = make_lab()
    write_mixed_corpus(lab)
    lab.sync()
    head = change_log_head(lab.data_dir)
    guide, rows = lab.root / "guide.md", lab.root / "rows.csv"
    later = time.time() + 3600
    os.utime(guide, (later, later))
    rows.write_bytes(rows.read_bytes())  # new mtime, same bytes
    assert lab.ingestor.catalog.source("docs/guide.md").mtime_ns != guide.stat().st_mtime_ns  # type: ignore[union-attr]

    report = lab.sync()
    assert report.unchanged == len(MIXED_IDS)
    assert (report.added, report.updated, report.deleted, report.failed) == ([], [], [], [])
    assert (report.chunks_embedded, report.chunks_written) == (0, 0)
    assert change_log_head(lab.data_dir) == head
    # the new mtime is recorded, so the next run skips the file without hashing it again
    assert lab.ingestor.catalog.source("docs/guide.md").mtime_ns == guide.stat().st_mtime_ns  # type: ignore[union-attr]
    assert lab.ingestor.catalog.source("docs/rows.csv").mtime_ns == rows.stat().st_mtime_ns  # type: ignore[union-attr]


# -- delete, rename ---------------------------------------------------------------------------------


def test_deleting_a_file_deletes_its_documents(make_lab: Callable[..., Lab]) -> None:
    lab = make_lab()
    write_mixed_corpus(lab)
    lab.sync()
    (lab.root / "events.jsonl").unlink()

    report = lab.sync()
    assert sorted(report.deleted) == ["docs/events.jsonl#e1", "docs/events.jsonl#e2"]
    assert (report.added, report.updated, report.failed) == ([], [], [])
    assert report.unchanged == len(MIXED_IDS) - 2
    assert set(assert_no_half_documents(lab.data_dir)) == MIXED_IDS - {"docs/events.jsonl#e1", "docs/events.jsonl#e2"}
    assert lab.search("quokkaroo festival", mode="keyword") == []
    assert "docs/events.jsonl" not in sources(lab.search("quokkaroo festival by the river", k=50, mode="dense"))
    assert lab.ingestor.catalog.source("docs/events.jsonl") is None
    assert not any(d.source == "docs/events.jsonl" for d in lab.ingestor.catalog.documents())


def test_csv_losing_one_row_deletes_only_that_rows_document(make_lab: Callable[..., Lab]) -> None:
    lab = make_lab()
    write_mixed_corpus(lab)
    lab.sync()
    csv_path = lab.root / "rows.csv"
    kept = [line for line in csv_path.read_text().splitlines() if not line.startswith("r2,")]
    csv_path.write_text("\n".join(kept) + "\n")

    report = lab.sync()
    assert report.deleted == ["docs/rows.csv#r2"]
    assert (report.added, report.updated, report.failed) == ([], [], [])
    assert report.unchanged == len(MIXED_IDS) - 1  # r1 and r3 are unchanged documents of a changed file
    assert report.chunks_embedded == 0
    assert set(assert_no_half_documents(lab.data_dir)) == MIXED_IDS - {"docs/rows.csv#r2"}
    assert lab.search("Thornbury sulphur", mode="keyword") == []
    assert lab.search("glimmerwave", k=1, mode="keyword")[0].chunk.doc_id == "docs/rows.csv#r1"


def test_rename_is_delete_plus_add(make_lab: Callable[..., Lab]) -> None:
    lab = make_lab()
    write_mixed_corpus(lab)
    lab.sync()
    (lab.root / "guide.md").rename(lab.root / "field-guide.md")

    report = lab.sync()
    assert report.added == ["docs/field-guide.md"]
    assert report.deleted == ["docs/guide.md"]
    assert (report.updated, report.failed) == ([], [])
    assert report.chunks_embedded == 0 and report.chunks_cached == report.chunks_written > 0  # same text
    stored = assert_no_half_documents(lab.data_dir)
    assert "docs/guide.md" not in stored and "docs/field-guide.md" in stored
    assert sources(lab.search("zorblax lattice", k=1)) == ["docs/field-guide.md"]
    again = lab.sync()
    assert again.unchanged == len(MIXED_IDS) and (again.added, again.deleted, again.duplicates) == ([], [], [])


def test_rename_is_not_reported_as_a_duplicate(make_lab: Callable[..., Lab]) -> None:
    lab = make_lab()
    write_mixed_corpus(lab)
    lab.sync()
    (lab.root / "guide.md").rename(lab.root / "field-guide.md")
    report = lab.sync()
    assert report.added == ["docs/field-guide.md"]
    assert report.duplicates == []


def test_a_moved_folder_keeps_its_source_names_and_re_adds_nothing(make_lab: Callable[..., Lab]) -> None:
    # An upgrade that moves the package, a new checkout, a renamed parent: the folder the catalog recorded is
    # gone, and the same names (so the same document ids) arrive from another path.
    lab = make_lab()
    write_mixed_corpus(lab)
    lab.sync()
    old_root, moved = str(lab.root.resolve()), lab.root.parent / "moved" / "docs"
    moved.parent.mkdir()
    lab.root.rename(moved)
    (moved / "notes.txt").unlink()  # and one file went while it moved
    before = lab.chunks()

    report = lab.ingestor.sync(moved)
    assert report.moved_from == [old_root]
    assert report.added == [] and report.updated == [] and report.deleted == ["docs/notes.txt"]
    assert report.unchanged == len(MIXED_IDS) - 1 and report.chunks_embedded == report.chunks_written == 0
    assert lab.chunks() == {doc: chunks for doc, chunks in before.items() if doc != "docs/notes.txt"}
    assert {s.root for s in lab.ingestor.catalog.sources()} == {str(moved.resolve())}
    again = lab.ingestor.sync(moved)
    assert again.moved_from == [] and again.unchanged == len(MIXED_IDS) - 1
    assert (again.added, again.updated, again.deleted) == ([], [], [])


def test_another_folder_under_names_whose_folder_still_exists_is_refused(make_lab: Callable[..., Lab]) -> None:
    lab = make_lab()
    write_mixed_corpus(lab)
    lab.sync()
    other = lab.root.parent / "elsewhere" / "docs"
    other.mkdir(parents=True)
    (other / "guide.md").write_text("# Another guide\n\nNothing about lattices here at all.\n", encoding="utf-8")
    before = lab.chunks()
    with pytest.raises(ConfigError, match=r'"docs/guide.md" already belongs to .*, which still exists; .*--name'):
        lab.ingestor.sync(other)
    assert lab.chunks() == before
    assert {s.root for s in lab.ingestor.catalog.sources()} == {str(lab.root.resolve())}
    named = lab.ingestor.sync(other, name="other-docs")  # the fix the error names
    assert named.added == ["other-docs/guide.md"] and named.moved_from == []


# -- bad input --------------------------------------------------------------------------------------


def _io_error_file(path: Path) -> None:
    """A regular file whose read fails with EIO even for root: a link to /proc/self/mem."""
    target = Path("/proc/self/mem")
    if not target.is_file():
        pytest.skip("needs Linux /proc/self/mem to make a file that cannot be read")
    path.symlink_to(target)


def _broken_jsonl(path: Path) -> None:
    path.write_text('{"id": "j1", "text": "A perfectly fine first record of the export."}\n{"id": "j2", "text": "cut')


def _binary_txt(path: Path) -> None:
    path.write_bytes(bytes(range(256)) * 4)  # NUL and control bytes


def _big_md(path: Path) -> None:
    path.write_text("# Big\n\n" + prose(seed=7, words=600))  # about 4,000 bytes: over the limit below


BAD_FILES = [
    # name, how to make it, kind, a fragment of the reason, a fragment of the fix
    ("mem.txt", _io_error_file, "unreadable", "cannot read", "readable"),
    ("locked.pdf", lambda p: shutil.copyfile(LOCKED_PDF, p), "encrypted", "password", "qpdf --decrypt"),
    ("empty.md", lambda p: p.write_bytes(b""), "empty", "empty", "no extractable text"),
    ("blank.txt", lambda p: p.write_text(" \n\n\t \n"), "empty", "whitespace", "no extractable text"),
    ("garbage.pdf", lambda p: p.write_bytes(bytes(range(256)) * 4), "malformed", "not a readable PDF", "re-export"),
    ("broken.jsonl", _broken_jsonl, "malformed", "line 2", "fix or remove line 2"),
    ("binary.txt", _binary_txt, "encoding", "binary", "UTF-8"),
    ("big.md", _big_md, "too_large", "MB limit", "DAYSHIFT_INGEST__MAX_FILE_MB"),
]


@pytest.mark.parametrize(
    ("name", "make", "kind", "reason", "fix"), BAD_FILES, ids=[f"{b[2]}:{b[0]}" for b in BAD_FILES]
)
def test_bad_file_is_reported_with_reason_and_fix_and_the_batch_goes_on(
    make_lab: Callable[..., Lab], name: str, make: Callable[[Path], object], kind: str, reason: str, fix: str
) -> None:
    lab = make_lab(max_file_mb=0.002)  # 2,000 bytes: only big.md is over it
    lab.write("good.md", "# Good\n\nThe wanderpike swims upstream in autumn.\n")
    lab.write("good.txt", "Plain notes about the tessellated owl of Marrowdeep.\n")
    make(lab.root / name)

    report = lab.sync()
    assert not report.ok
    assert [(f.source, f.kind) for f in report.failed] == [(f"docs/{name}", kind)]
    failure = report.failed[0]
    assert reason in failure.reason and fix in failure.fix, failure
    assert sorted(report.added) == ["docs/good.md", "docs/good.txt"]
    assert set(assert_no_half_documents(lab.data_dir)) == {"docs/good.md", "docs/good.txt"}
    assert sources(lab.search("wanderpike", k=1)) == ["docs/good.md"]
    assert sources(lab.search("tessellated owl Marrowdeep", k=1)) == ["docs/good.txt"]
    recorded = lab.ingestor.catalog.source(f"docs/{name}")
    assert recorded is not None and (recorded.status, recorded.error_kind) == ("failed", kind)
    assert recorded.error_reason == failure.reason and recorded.error_fix == failure.fix

    again = lab.sync()  # still broken: reported again, nothing else redone
    assert [(f.source, f.kind) for f in again.failed] == [(f"docs/{name}", kind)]
    assert again.unchanged == 2 and (again.added, again.chunks_embedded) == ([], 0)


@pytest.mark.skipif(
    hasattr(os, "geteuid") and os.geteuid() == 0,
    reason="root reads a file whatever its mode bits; test_bad_file...[unreadable:mem.txt] covers unreadable files",
)
def test_file_without_read_permission_is_reported_unreadable(make_lab: Callable[..., Lab]) -> None:
    lab = make_lab()
    lab.write("good.md", "# Good\n\nThe wanderpike swims upstream in autumn.\n")
    secret = lab.write("secret.md", "# Secret\n\nNobody may read this.\n")
    secret.chmod(0)
    try:
        report = lab.sync()
    finally:
        secret.chmod(0o644)
    assert [(f.source, f.kind) for f in report.failed] == [("docs/secret.md", "unreadable")]
    assert "readable" in report.failed[0].fix and report.added == ["docs/good.md"]


def test_dangling_symlink_is_reported_unreadable(make_lab: Callable[..., Lab]) -> None:
    lab = make_lab()
    lab.write("good.md", "# Good\n\nThe wanderpike swims upstream in autumn.\n")
    (lab.root / "moved.md").symlink_to(lab.root / "gone" / "moved.md")
    report = lab.sync()
    assert report.added == ["docs/good.md"]
    assert [(f.source, f.kind) for f in report.failed] == [("docs/moved.md", "unreadable")]


def test_indexed_file_that_breaks_loses_its_chunks_and_comes_back_when_fixed(make_lab: Callable[..., Lab]) -> None:
    lab = make_lab()
    write_mixed_corpus(lab)
    text = "# Plumbing\n\nThe gravelspout valve must be closed before winter.\n"
    lab.write("plumbing.md", text)
    lab.sync()
    assert sources(lab.search("gravelspout", k=1)) == ["docs/plumbing.md"]

    lab.write("plumbing.md", b"\x00\x01\x02\x03 not text any more \xff\xfe" * 20)
    report = lab.sync()
    assert [(f.source, f.kind) for f in report.failed] == [("docs/plumbing.md", "encoding")]
    assert report.deleted == ["docs/plumbing.md"] and not report.ok
    assert report.unchanged == len(MIXED_IDS) and (report.added, report.updated) == ([], [])
    assert "docs/plumbing.md" not in assert_no_half_documents(lab.data_dir)
    assert lab.search("gravelspout", mode="keyword") == []
    assert "docs/plumbing.md" not in sources(lab.search("gravelspout valve closed before winter", k=50, mode="dense"))

    lab.write("plumbing.md", text)
    fixed = lab.sync()
    assert fixed.ok and fixed.added == ["docs/plumbing.md"]
    assert fixed.chunks_embedded == 0 and fixed.chunks_cached == fixed.chunks_written == 1  # from the cache
    assert sources(lab.search("gravelspout", k=1)) == ["docs/plumbing.md"]
    assert lab.ingestor.catalog.source("docs/plumbing.md").status == "ok"  # type: ignore[union-attr]


def test_real_pdf_replaced_by_an_encrypted_one_is_removed_then_restored_from_cache(
    make_lab: Callable[..., Lab], pdf_dir: Path
) -> None:
    lab = make_lab(chunk_tokens=2048)  # a few big chunks: the embedder reads 256 tokens of each, enough here
    shutil.copyfile(pdf_dir / NICS, lab.root / "nics.pdf")
    first = lab.sync()
    assert first.added == ["docs/nics.pdf"] and first.ok
    chunks = assert_no_half_documents(lab.data_dir)["docs/nics.pdf"][1]
    assert chunks > 1 and first.chunks_written == chunks
    assert sources(lab.search("NICS firearm background checks", k=1)) == ["docs/nics.pdf"]

    shutil.copyfile(LOCKED_PDF, lab.root / "nics.pdf")
    broken = lab.sync()
    assert [(f.source, f.kind) for f in broken.failed] == [("docs/nics.pdf", "encrypted")]
    assert broken.deleted == ["docs/nics.pdf"]
    assert assert_no_half_documents(lab.data_dir) == {}
    assert lab.search("NICS firearm background checks", k=5) == []

    shutil.copyfile(pdf_dir / NICS, lab.root / "nics.pdf")
    restored = lab.sync()
    assert restored.ok and restored.added == ["docs/nics.pdf"]
    assert (restored.chunks_embedded, restored.chunks_cached, restored.chunks_written) == (0, chunks, chunks)
    assert assert_no_half_documents(lab.data_dir)["docs/nics.pdf"][1] == chunks


# -- duplicates -------------------------------------------------------------------------------------

ORIGINAL = "# Tidewater almanac\n\n" + prose(seed=42, words=300) + "\n"


def _near_copy(text: str) -> str:
    words = text.split(" ")
    words[100], words[200] = "zanzibar", "quixotic"  # two words changed out of 300
    return " ".join(words)


def test_exact_and_near_duplicates_are_skipped_and_reported(make_lab: Callable[..., Lab]) -> None:
    lab = make_lab()
    lab.write("a_orig.md", ORIGINAL)
    lab.write("b_copy.md", ORIGINAL)
    lab.write("c_near.md", _near_copy(ORIGINAL))
    lab.write("d_other.md", "# Other\n\n" + prose(seed=43, words=300) + "\n")

    report = lab.sync()
    assert sorted(report.added) == ["docs/a_orig.md", "docs/d_other.md"] and report.ok
    dups = {d.doc_id: d for d in report.duplicates}
    assert dups["docs/b_copy.md"] == Duplicate("docs/b_copy.md", "docs/a_orig.md", "exact", 1.0)
    near = dups["docs/c_near.md"]
    assert (near.of_doc_id, near.kind) == ("docs/a_orig.md", "near")
    assert 0.8 <= near.similarity < 1.0
    assert set(assert_no_half_documents(lab.data_dir)) == {"docs/a_orig.md", "docs/d_other.md"}
    assert lab.search("zanzibar quixotic", mode="keyword") == []  # the near copy's own words are not indexed
    statuses = {d.doc_id: (d.status, d.duplicate_of) for d in lab.ingestor.catalog.documents()}
    assert statuses["docs/b_copy.md"] == ("duplicate", "docs/a_orig.md")
    assert statuses["docs/c_near.md"] == ("duplicate", "docs/a_orig.md")

    again = lab.sync()
    assert again.unchanged == 4 and (again.added, again.chunks_embedded) == ([], 0)

    (lab.root / "a_orig.md").unlink()  # the copies must not vanish with it
    after = lab.sync()
    assert after.deleted == ["docs/a_orig.md"]
    assert after.added == ["docs/b_copy.md"]  # indexed in the same sync
    assert after.chunks_embedded == 0 and after.chunks_cached == after.chunks_written > 0  # same text as a_orig
    assert [(d.doc_id, d.of_doc_id, d.kind) for d in after.duplicates] == [("docs/c_near.md", "docs/b_copy.md", "near")]
    assert set(assert_no_half_documents(lab.data_dir)) == {"docs/b_copy.md", "docs/d_other.md"}
    assert sources(lab.search(ORIGINAL.split("\n\n")[1][:80], k=1)) == ["docs/b_copy.md"]
    final = lab.sync()
    assert final.unchanged == 3 and (final.added, final.deleted, final.chunks_embedded) == ([], [], 0)


def test_duplicate_becomes_searchable_when_its_original_changes(make_lab: Callable[..., Lab]) -> None:
    lab = make_lab()
    lab.write("a_orig.md", ORIGINAL)
    lab.write("b_copy.md", ORIGINAL)
    lab.sync()
    lab.write("a_orig.md", "# Tidewater almanac\n\nRewritten completely: the almanac now covers lighthouses.\n")
    report = lab.sync()
    assert report.updated == ["docs/a_orig.md"]
    phrase = ORIGINAL.split("\n\n")[1][:80]
    assert "docs/b_copy.md" in sources(lab.search(phrase, k=3, mode="keyword"))


# -- search sees one version of a document ----------------------------------------------------------


def test_hybrid_search_never_mixes_two_versions_of_a_document(make_lab: Callable[..., Lab]) -> None:
    lab = make_lab()
    lab.write("mix.md", "## Heron notes\n\nThe zephyrquill heron waits by the reeds.\n\n"
                        "## Otter notes\n\nThe otter swims under the old stone bridge at dusk.\n")
    lab.sync()
    reader = lab.reader()
    # the query word is in the first chunk only; dense retrieval returns both chunks
    assert [h.chunk.chunk_id for h in reader.search("zephyrquill", k=5, mode="keyword").hits] == ["docs/mix.md:0"]
    dense_search = reader.store.dense_search
    writes: list[SyncReport] = []

    def dense_after_a_write(*args: Any, **kwargs: Any) -> list[Hit]:
        # another writer commits the new version between the keyword and the dense retrieval
        lab.write("mix.md", "## Heron notes\n\nThe heron has flown south for the winter months.\n\n"
                            "## Otter notes\n\nThe otter sleeps in a burrow under the willow roots.\n")
        writes.append(lab.sync())
        return dense_search(*args, **kwargs)

    reader.store.dense_search = dense_after_a_write  # type: ignore[method-assign]
    hits = reader.search("zephyrquill", k=10).hits
    assert [w.updated for w in writes] == [["docs/mix.md"]]
    assert {h.chunk.chunk_id for h in hits} == {"docs/mix.md:0", "docs/mix.md:1"}
    assert len({h.chunk.doc_version for h in hits if h.chunk.doc_id == "docs/mix.md"}) == 1, [
        (h.chunk.chunk_id, h.chunk.doc_version, h.chunk.text) for h in hits
    ]


# -- crash safety -----------------------------------------------------------------------------------

# Runs one sync in a fresh process. mode "plain" syncs; "slow" sleeps `nth` ms in every store write
# (a writer that stays busy without using the CPU); "before-catalog" SIGKILLs itself when the catalog
# is about to record the nth stored document (the store already has it); "before-commit" SIGKILLs
# itself inside the nth store transaction, every chunk of that document inserted but not committed.
# EMBED_WINDOW is lowered so that documents are embedded and stored a few at a time.
SYNC_SCRIPT = r"""
import json, os, signal, sys, time
from pathlib import Path
import dayshift.ingest.engine as engine_module
import dayshift.store.embedded.store as embedded
from dayshift.assemble import open_ingestor
from dayshift.settings import load_settings

root, data_dir, mode = Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3]
nth, window = int(sys.argv[4]), int(sys.argv[5])
engine_module.EMBED_WINDOW = window
ingestor = open_ingestor(load_settings(data_dir=data_dir))
calls = [0]

def die_on_nth():
    calls[0] += 1
    if calls[0] == nth:
        os.kill(os.getpid(), signal.SIGKILL)

if mode == "slow":
    replace_document = ingestor.store.replace_document
    def replace(*args, **kwargs):
        time.sleep(nth / 1000)
        replace_document(*args, **kwargs)
    ingestor.store.replace_document = replace
elif mode == "before-catalog":
    put_document = ingestor.catalog.put_document
    def put(record):
        if record.status == "indexed":
            die_on_nth()
        put_document(record)
    ingestor.catalog.put_document = put
elif mode == "before-commit":
    exit_transaction = embedded._Transaction.__exit__
    def exit_(self, exc_type, *rest):
        if exc_type is None:
            die_on_nth()
        return exit_transaction(self, exc_type, *rest)
    embedded._Transaction.__exit__ = exit_
print(json.dumps(ingestor.sync(root).counts()))
"""

N_NOTES = 40


def _note(i: int, *, revised: bool = False) -> str:
    second = prose(seed=1000 + i, words=15) + f" Revised osprey{i}." if revised else prose(seed=100 + i, words=15)
    return f"## Note {i} harbor\n\n{prose(seed=i, words=15)} Marker kestrel{i}.\n\n## Note {i} ledger\n\n{second}\n"


def _write_notes(root: Path, *, revised: bool = False) -> None:
    root.mkdir(parents=True, exist_ok=True)
    for i in range(N_NOTES):
        (root / f"note_{i:02d}.md").write_text(_note(i, revised=revised))


def _expected(root: Path, embedder: Embedder) -> dict[str, tuple[str, int]]:
    """doc_id -> (version, chunks) a complete sync must leave, from the loader and chunker directly."""
    out = {}
    for path in sorted(root.glob("*.md")):
        loader = loader_for(path)
        assert loader is not None
        (doc,) = loader.load(path, source=f"{root.name}/{path.name}", options=LoadOptions())
        doc = clean_document(doc)
        assert doc is not None
        chunks = chunk_document(doc, tokenizer=embedder.tokenizer, policy=ChunkingPolicy(), ingested_at=0.0)
        out[doc.doc_id] = (doc.version, len(chunks))
    return out


@pytest.fixture(scope="module")
def notes_cache(tmp_path_factory: pytest.TempPathFactory, embedder: Embedder) -> Path:
    """An embedding cache holding every chunk of the notes, first and revised versions: tests that
    only need a sync to be killed or to be busy start from it and never load the model again."""
    base = tmp_path_factory.mktemp("notes-cache")
    ingestor = open_ingestor(load_settings(data_dir=base / "data"), embedder=embedder)
    try:
        _write_notes(base / "notes")
        ingestor.sync(base / "notes")
        _write_notes(base / "notes", revised=True)
        ingestor.sync(base / "notes")
    finally:
        ingestor.store.close()  # type: ignore[attr-defined]
        ingestor.catalog.close()
        assert ingestor.cache is not None
        ingestor.cache.close()
    return base / "data" / "embed_cache.sqlite"


def _seed_cache(cache: Path, data_dir: Path) -> None:
    data_dir.mkdir(parents=True, exist_ok=True)
    with closing(sqlite3.connect(cache)) as source, closing(sqlite3.connect(data_dir / "embed_cache.sqlite")) as copy:
        source.backup(copy)


def _subprocess_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DAYSHIFT_")}
    env.update(HF_HUB_OFFLINE="1", TOKENIZERS_PARALLELISM="false", PYTHONUNBUFFERED="1", **extra)
    return env


def _start_sync(root: Path, data_dir: Path, log: Path, *, mode: str = "plain", nth: int = 0, window: int = 6,
                **env: str) -> subprocess.Popen[bytes]:
    with log.open("wb") as out:
        return subprocess.Popen(
            [sys.executable, "-c", SYNC_SCRIPT, str(root), str(data_dir), mode, str(nth), str(window)],
            env=_subprocess_env(**env), stdout=out, stderr=subprocess.STDOUT,
        )


def _wait(proc: subprocess.Popen[bytes], log: Path) -> int:
    try:
        return proc.wait(timeout=120)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
        pytest.fail(f"the sync subprocess hung:\n{log.read_text(errors='replace')[-3000:]}")


def _recover(root: Path, data_dir: Path, embedder: Embedder, expected: dict[str, tuple[str, int]]) -> SyncReport:
    """A normal sync after the crash completes the index; a further one finds nothing to do."""
    ingestor = open_ingestor(load_settings(data_dir=data_dir), embedder=embedder)
    try:
        report = ingestor.sync(root)
        assert report.ok and report.deleted == [] and report.duplicates == []
        assert len(report.added) + len(report.updated) + report.unchanged == len(expected)
        assert report.chunks_written == report.chunks_embedded + report.chunks_cached
        assert assert_no_half_documents(data_dir) == expected
        assert {d: (v, n) for d, (v, _, n) in catalog_documents(data_dir).items()} == expected
        assert {s.path for s in ingestor.catalog.sources() if s.status == "ok"} == set(expected)
        assert ingestor.store.stats().chunks == sum(n for _, n in expected.values())
        again = ingestor.sync(root)
        assert again.unchanged == len(expected)
        assert (again.added, again.updated, again.chunks_embedded, again.chunks_written) == ([], [], 0, 0)
        return report
    finally:
        ingestor.store.close()  # type: ignore[attr-defined]
        ingestor.catalog.close()


def test_sync_killed_partway_leaves_whole_documents_and_the_next_sync_completes(
    tmp_path: Path, embedder: Embedder, notes_cache: Path
) -> None:
    root, data_dir, log = tmp_path / "notes", tmp_path / "data", tmp_path / "sync.log"
    _write_notes(root)
    expected = _expected(root, embedder)
    assert all(n == 2 for _, n in expected.values())
    _seed_cache(notes_cache, data_dir)
    # one document per store flush, 100 ms per store write: seconds of writing to kill in the middle of
    proc = _start_sync(root, data_dir, log, mode="slow", nth=100, window=2)
    deadline = time.monotonic() + 120
    try:
        while not store_chunks(data_dir):
            if proc.poll() is not None:
                pytest.fail(f"the sync ended (rc {proc.returncode}) before any chunk:\n{log.read_text()[-3000:]}")
            if time.monotonic() > deadline:
                pytest.fail("no chunk was written within 120 s")
            time.sleep(0.005)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    assert proc.returncode == -signal.SIGKILL

    stored = assert_no_half_documents(data_dir)
    assert 0 < len(stored) < N_NOTES, f"killed too late to be midway: {len(stored)} documents stored"
    assert all(stored[d] == expected[d] for d in stored)
    report = _recover(root, data_dir, embedder, expected)
    assert report.chunks_embedded == 0  # every chunk is in the (seeded) cache


def test_interrupted_sync_keeps_every_vector_it_computed(tmp_path: Path, embedder: Embedder,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    """The same stop as "before-catalog" below, in process and with an empty cache, to count exactly
    which vectors the next run computes again: none that were computed before the stop."""
    root, data_dir = tmp_path / "notes", tmp_path / "data"
    _write_notes(root)
    expected = _expected(root, embedder)
    monkeypatch.setattr(engine_module, "EMBED_WINDOW", 6)  # three documents per flush
    ingestor = open_ingestor(load_settings(data_dir=data_dir), embedder=embedder)
    put_document, calls = ingestor.catalog.put_document, []

    def put(record: Any) -> None:
        calls.append(record.doc_id)
        if len(calls) == 7:
            raise KeyboardInterrupt  # the 7th document is stored, its catalog row is not
        put_document(record)

    ingestor.catalog.put_document = put  # type: ignore[method-assign]
    try:
        with pytest.raises(KeyboardInterrupt):
            ingestor.sync(root)
    finally:
        ingestor.store.close()  # type: ignore[attr-defined]
        ingestor.catalog.close()
    assert len(assert_no_half_documents(data_dir)) == 7

    monkeypatch.undo()  # the next run embeds in one window, as usual
    report = _recover(root, data_dir, embedder, expected)
    # three flushes were embedded (documents 1-9, 18 chunks); 1-6 were recorded and are skipped,
    # 7-9 come back from the cache, the other 31 documents are embedded now
    assert report.unchanged == 6 and len(report.updated) == 1 and len(report.added) == N_NOTES - 7
    assert (report.chunks_cached, report.chunks_embedded) == (6, 2 * (N_NOTES - 9))


@pytest.mark.parametrize("mode", ["before-catalog", "before-commit"])
def test_sync_killed_at_the_riskiest_points_recovers(
    tmp_path: Path, embedder: Embedder, notes_cache: Path, mode: str
) -> None:
    root, data_dir, log = tmp_path / "notes", tmp_path / "data", tmp_path / "sync.log"
    _write_notes(root)
    expected = _expected(root, embedder)
    _seed_cache(notes_cache, data_dir)
    nth = 7  # documents are stored in file order, three per flush (a window of 6 chunks)
    proc = _start_sync(root, data_dir, log, mode=mode, nth=nth, window=6)
    assert _wait(proc, log) == -signal.SIGKILL, log.read_text(errors="replace")[-3000:]

    stored = assert_no_half_documents(data_dir)
    names = sorted(expected)
    indexed = sorted(d for d, (_, status, _) in catalog_documents(data_dir).items() if status == "indexed")
    if mode == "before-catalog":  # the 7th document is stored, the catalog has only 6
        assert (sorted(stored), indexed) == (names[:nth], names[: nth - 1])
    else:  # the 7th document's transaction never committed: none of its chunks is visible
        assert sorted(stored) == indexed == names[: nth - 1]
    assert all(stored[d] == expected[d] for d in stored)

    report = _recover(root, data_dir, embedder, expected)
    # files 1-6 were recorded (two whole flushes) and are skipped; in "before-catalog" the 7th
    # is already in the store, so storing it again is an update
    assert report.unchanged == nth - 1
    if mode == "before-catalog":
        assert (report.updated, report.added) == ([names[nth - 1]], names[nth:])
    else:
        assert (report.updated, report.added) == ([], names[nth - 1 :])
    assert report.chunks_embedded == 0


def test_update_killed_inside_a_store_transaction_keeps_the_old_version_whole(
    tmp_path: Path, embedder: Embedder, notes_cache: Path
) -> None:
    root, data_dir, log = tmp_path / "notes", tmp_path / "data", tmp_path / "sync.log"
    _write_notes(root)
    _seed_cache(notes_cache, data_dir)
    ingestor = open_ingestor(load_settings(data_dir=data_dir), embedder=embedder)
    assert len(ingestor.sync(root).added) == N_NOTES
    ingestor.store.close()  # type: ignore[attr-defined]
    ingestor.catalog.close()
    old = assert_no_half_documents(data_dir)

    _write_notes(root, revised=True)
    expected = _expected(root, embedder)
    nth = 5
    proc = _start_sync(root, data_dir, log, mode="before-commit", nth=nth, window=6)
    assert _wait(proc, log) == -signal.SIGKILL, log.read_text(errors="replace")[-3000:]

    stored = assert_no_half_documents(data_dir)
    names = sorted(expected)
    assert set(stored) == set(names)
    for i, doc_id in enumerate(names):
        want = expected[doc_id] if i < nth - 1 else old[doc_id]  # the 5th update rolled back whole
        assert stored[doc_id] == want, doc_id
    texts = store_chunks(data_dir)
    assert all("Revised osprey" in " ".join(t for _, _, t in texts[d]) for d in names[: nth - 1])
    assert not any("Revised osprey" in t for d in names[nth - 1 :] for _, _, t in texts[d])

    report = _recover(root, data_dir, embedder, expected)
    assert len(report.updated) == N_NOTES - (nth - 1) and report.unchanged == nth - 1
    texts = store_chunks(data_dir)
    for i, doc_id in enumerate(names):
        joined = " ".join(t for _, _, t in texts[doc_id])
        assert f"Revised osprey{i}." in joined and prose(seed=100 + i, words=15) not in joined


# -- readers while a sync writes --------------------------------------------------------------------


def _cli_search(data_dir: Path, query: str, *, k: int) -> list[str]:
    # keyword mode: the store is read exactly as in hybrid mode, without loading the model for the query
    beside = Path(sys.executable).with_name("dayshift")  # the console script of this environment
    command = str(beside) if beside.exists() else "dayshift"
    return [command, "--data-dir", str(data_dir), "search", query, "--k", str(k), "--mode", "keyword", "--json"]


def test_another_process_can_search_while_sync_writes(tmp_path: Path, embedder: Embedder, notes_cache: Path) -> None:
    root, data_dir, log = tmp_path / "notes", tmp_path / "data", tmp_path / "sync.log"
    _write_notes(root)
    expected = _expected(root, embedder)
    _seed_cache(notes_cache, data_dir)
    proc = _start_sync(root, data_dir, log, mode="slow", nth=150, window=2)  # one document per 150 ms
    settings = load_settings(data_dir=data_dir)
    reader: Retriever | None = None
    seen_midway: list[int] = []
    cli: subprocess.Popen[bytes] | None = None
    try:
        while proc.poll() is None:
            stored = assert_no_half_documents(data_dir)  # one read snapshot: never half a document
            if not stored:
                time.sleep(0.01)
                continue
            if cli is None:  # the `dayshift search` command, another process, at the same time
                cli = subprocess.Popen(
                    _cli_search(data_dir, "marker kestrel", k=5), env=_subprocess_env(),
                    stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                )
            if reader is None:
                reader = open_retriever(settings, embedder=embedder)
            hits = reader.search("marker kestrel harbor", k=100).hits
            for hit in hits:
                assert hit.chunk.chunk_id == f"{hit.chunk.doc_id}:{hit.chunk.ordinal}"
                assert hit.chunk.doc_version == expected[hit.chunk.doc_id][0]
            if proc.poll() is None and len(stored) < N_NOTES:
                seen_midway.append(len({h.chunk.doc_id for h in hits}))
            time.sleep(0.05)
        assert proc.wait() == 0, log.read_text(errors="replace")[-3000:]
        assert cli is not None
        out, err = cli.communicate(timeout=120)
        assert cli.returncode == 0, err.decode(errors="replace")
        cli_hits = json.loads(out)["hits"]
        assert cli_hits and all(h["doc_id"] in expected for h in cli_hits)
    finally:
        for p in (proc, cli):
            if p is not None and p.poll() is None:
                p.kill()
                p.wait()
        if reader is not None:
            reader.store.close()  # type: ignore[attr-defined]
    assert len(seen_midway) >= 3 and 0 < min(seen_midway) < N_NOTES, seen_midway  # searched while it wrote
    assert seen_midway == sorted(seen_midway)  # documents only ever appear
    assert json.loads(log.read_text().strip().splitlines()[-1])["added"] == N_NOTES
    assert assert_no_half_documents(data_dir) == expected


def test_cli_search_during_an_in_process_sync_sees_only_whole_documents(
    tmp_path: Path, embedder: Embedder, notes_cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root, data_dir = tmp_path / "notes", tmp_path / "data"
    _write_notes(root)
    _seed_cache(notes_cache, data_dir)
    monkeypatch.setattr(engine_module, "EMBED_WINDOW", 4)  # store two documents at a time
    midway: list[tuple[list[dict[str, Any]], dict[str, tuple[str, int]]]] = []

    class SearchMidway:
        files = 0

        def start(self, stage: str, *, total: int | None) -> None:
            pass

        def advance(self, stage: str, n: int = 1) -> None:
            if stage != "files":
                return
            self.files += n
            if self.files == N_NOTES // 2:
                run = subprocess.run(_cli_search(data_dir, "marker kestrel", k=50), env=_subprocess_env(),
                                     capture_output=True, timeout=120)
                assert run.returncode == 0, run.stderr.decode(errors="replace")
                midway.append((json.loads(run.stdout)["hits"], assert_no_half_documents(data_dir)))

    ingestor = open_ingestor(load_settings(data_dir=data_dir), embedder=embedder)
    try:
        report = ingestor.sync(root, progress=SearchMidway())
    finally:
        ingestor.store.close()  # type: ignore[attr-defined]
        ingestor.catalog.close()
    assert len(report.added) == N_NOTES
    ((hits, stored),) = midway
    assert 0 < len(stored) < N_NOTES
    found = {h["doc_id"] for h in hits}
    assert found == set(stored)  # every stored document, and only those, whole
