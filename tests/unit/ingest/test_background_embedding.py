"""LocalEngine embeds a window on a background thread while the run goes on.

The bundled embedder does the work; one wrapper records which thread asked for vectors, and
one makes the embedder fail on its third call -- a backend failing mid-run (out of memory, a
server gone), which cannot be caused on demand otherwise.
"""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import threading
from collections.abc import Sequence
from contextlib import closing
from pathlib import Path

import numpy as np
import pytest

import dayshift.ingest.engine as engine_module
import dayshift.ingest.sync as sync_module
from dayshift.assemble import open_embedder, open_ingestor
from dayshift.embed.base import Embedder, TextKind
from dayshift.embed.cache import CACHE_FILE
from dayshift.settings import load_settings
from dayshift.types import context_header

WORDS = "harbor ledger osprey kestrel lantern meadow copper violet summit orchard basalt tundra".split()


class Recording:
    """The real embedder; remembers the thread of each call and fails on call `fail_on`."""

    def __init__(self, inner: Embedder, *, fail_on: int | None = None) -> None:
        self.inner, self.fail_on = inner, fail_on
        self.space, self.dim, self.tokenizer = inner.space, inner.dim, inner.tokenizer
        self.threads: list[str] = []

    def embed(self, texts: Sequence[str], *, kind: TextKind = "document") -> np.ndarray:
        self.threads.append(threading.current_thread().name)
        if len(self.threads) == self.fail_on:
            raise MemoryError("the embedder ran out of memory")
        return self.inner.embed(texts, kind=kind)


@pytest.fixture(scope="module")
def embedder() -> Embedder:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    return open_embedder(load_settings())


@pytest.fixture
def notes(tmp_path: Path) -> Path:
    root = tmp_path / "notes"
    root.mkdir()
    for i in range(24):
        words = " ".join(WORDS[(i * 7 + j) % len(WORDS)] for j in range(40))
        (root / f"note{i:02}.md").write_text(f"# Note {i}\n\nMarker token{i}. {words}.\n", encoding="utf-8")
    return root


def _stored_docs(data_dir: Path) -> set[str]:
    with closing(sqlite3.connect(data_dir / "index.sqlite")) as db:
        return {row[0] for row in db.execute("SELECT DISTINCT doc_id FROM chunks")}


def test_windows_embed_on_a_background_thread_and_every_document_is_stored(
    tmp_path: Path, notes: Path, embedder: Embedder, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(engine_module, "EMBED_WINDOW", 4)  # 24 one-chunk notes: 6 windows
    recording = Recording(embedder)
    settings = load_settings(data_dir=tmp_path / "data")
    ingestor = open_ingestor(settings, embedder=recording)
    report = ingestor.sync(notes)
    assert report.ok and len(report.added) == 24 and report.chunks_embedded == 24
    assert recording.threads and set(recording.threads) == {"dayshift-embed-window"}
    assert len(_stored_docs(tmp_path / "data")) == 24
    # The cache was written on the calling thread (a SQLite connection refuses others): a run
    # into a fresh index beside a copy of that cache reads every vector from it.
    ingestor.cache.close()  # type: ignore[union-attr]
    (tmp_path / "fresh").mkdir()
    shutil.copy(tmp_path / "data" / CACHE_FILE, tmp_path / "fresh" / CACHE_FILE)
    again = open_ingestor(load_settings(data_dir=tmp_path / "fresh"), embedder=Recording(embedder)).sync(notes)
    assert again.chunks_cached == 24 and again.chunks_embedded == 0


def test_an_embedder_failing_mid_run_raises_and_the_next_run_completes(
    tmp_path: Path, notes: Path, embedder: Embedder, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(engine_module, "EMBED_WINDOW", 4)
    settings = load_settings(data_dir=tmp_path / "data")
    with pytest.raises(MemoryError, match="out of memory"):
        open_ingestor(settings, embedder=Recording(embedder, fail_on=3)).sync(notes)
    stored = _stored_docs(tmp_path / "data")
    assert 0 < len(stored) < 24  # the windows before the failure are stored, whole
    report = open_ingestor(settings, embedder=embedder).sync(notes)
    assert report.ok and len(report.added) == 24 - len(stored)
    assert len(_stored_docs(tmp_path / "data")) == 24


def test_a_text_still_embedding_in_the_window_before_is_not_embedded_again(
    tmp_path: Path, embedder: Embedder, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Every note has three chunks: the title's and the "Shared" section's, the same text (and
    # hash) in every note, and one of its own. The shared two are embedded once, in the first
    # window; the windows after it, sent while that one may still be embedding, read them from
    # the cache once it is stored -- as a run embedding one window at a time would.
    monkeypatch.setattr(engine_module, "EMBED_WINDOW", 4)
    root = tmp_path / "notes"
    root.mkdir()
    for i in range(12):
        own = " ".join(WORDS[(i * 5 + j) % len(WORDS)] for j in range(60))
        (root / f"note{i:02}.md").write_text(
            f"# Note\n\n## Own\n\nMarker token{i}. {own}.\n\n## Shared\n\nThe harbor ledger is kept by the osprey.\n",
            encoding="utf-8",
        )
    report = open_ingestor(load_settings(data_dir=tmp_path / "data"), embedder=embedder).sync(root)
    assert report.ok and len(report.added) == 12 and report.chunks_written == 36
    assert (report.chunks_embedded, report.chunks_cached) == (12 + 2, 36 - 14)


class TakingIds(Recording):
    """The real embedder, also taking token ids: records the ids each text came with."""

    def __init__(self, inner: Embedder) -> None:
        super().__init__(inner)
        self.given: list[tuple[str, Sequence[int] | None]] = []
        self.windows: list[int] = []  # texts per call

    def embed_token_ids(self, texts: Sequence[str], token_ids: Sequence[Sequence[int] | None]) -> np.ndarray:
        self.given += zip(texts, token_ids)
        self.windows.append(len(texts))
        return self.inner.embed_token_ids(texts, token_ids)  # type: ignore[attr-defined]


def test_the_chunkers_token_ids_reach_the_embedder_and_give_the_same_vectors(
    tmp_path: Path, notes: Path, embedder: Embedder
) -> None:
    taking = TakingIds(embedder)
    report = open_ingestor(load_settings(data_dir=tmp_path / "data"), embedder=taking).sync(notes)
    assert report.ok and report.chunks_embedded == 24
    assert taking.threads == []  # every text went by its ids: `embed` was never called
    assert len(taking.given) == 24
    for text, ids in taking.given:
        assert ids == embedder.tokenizer.tokenise(text)[0]  # type: ignore[attr-defined]
    with closing(sqlite3.connect(tmp_path / "data" / "index.sqlite")) as db:
        rows = db.execute("SELECT title, section, text, vector FROM chunks").fetchall()
    assert len(rows) == 24
    texts = [_indexed_text(title, tuple(json.loads(section)), text) for title, section, text, _ in rows]
    assert set(texts) == {text for text, _ in taking.given}
    stored = np.stack([np.frombuffer(vector, dtype="<f4") for *_, vector in rows])
    np.testing.assert_allclose(stored, embedder.embed(texts), atol=1e-6)


def _indexed_text(title: str, section: tuple[str, ...], text: str) -> str:
    header = context_header(title, section)
    return f"{header}\n{text}" if header else text


def test_a_runs_first_windows_are_small_and_double(
    tmp_path: Path, notes: Path, embedder: Embedder, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(engine_module, "EMBED_WINDOW", 8)
    monkeypatch.setattr(sync_module, "FIRST_WINDOW", 1)
    taking = TakingIds(embedder)
    report = open_ingestor(load_settings(data_dir=tmp_path / "data"), embedder=taking).sync(notes)
    assert report.ok and report.chunks_embedded == 24
    assert sorted(taking.windows) == sorted([1, 2, 4, 8, 8, 1])  # 24 one-chunk notes; the last window holds the rest
