"""Congruence: the same ingest and the same queries give the same top results on every store backend.

The demo corpus and a slice of the Markdown book are ingested once per backend with
the real embedder (its cache shared, so every backend stores identical vectors); then
keyword, dense and hybrid queries must return the same top 5 chunks, in the same order,
as the embedded store. Scores may differ in the last float digits, so a swap of two
hits whose scores are within 1e-4 is not a difference.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import pytest

from dayshift import plugins
from dayshift.cli.demo import corpus_dir
from dayshift.embed.base import Embedder
from dayshift.embed.cache import EmbeddingCache
from dayshift.ingest.catalog import Catalog
from dayshift.ingest.sync import Ingestor
from dayshift.retrieve.retriever import Retriever
from dayshift.settings import RetrieveSettings
from dayshift.store.base import Store
from dayshift.testing.memory_store import MemoryStore

QUERIES = [
    "how does dayshift combine keyword and dense search",
    "ownership and borrowing rules",
    "which file formats can be ingested",
    "error handling with Result",
    "the bundled language model",
    "closures capture their environment",
    "what happens to personal data",
    "smart pointers Box Rc RefCell",
]


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory, rust_book_dir: Path) -> Path:
    folder = tmp_path_factory.mktemp("congruence-corpus")
    shutil.copytree(corpus_dir(), folder / "demo")
    book = folder / "book"
    book.mkdir()
    chapters = ["ch04-01-what-is-ownership.md", "ch04-02-references-and-borrowing.md", "ch09-02-recoverable-errors-with-result.md",
                "ch13-01-closures.md", "ch15-01-box.md", "ch15-04-rc.md", "ch15-05-interior-mutability.md"]
    for path in (rust_book_dir / name for name in chapters):
        shutil.copy(path, book / path.name)
    return folder


@pytest.fixture(scope="module")
def embedder(tmp_path_factory: pytest.TempPathFactory) -> Embedder:
    from dayshift.assemble import open_embedder
    from dayshift.settings import load_settings

    return open_embedder(load_settings(data_dir=tmp_path_factory.mktemp("congruence-embedder")))


def _backends(stack: ExitStack, root: Path, embedder: Embedder) -> dict[str, Callable[[], Store]]:
    def opener(name: str, **extra: Any) -> Callable[[], Store]:
        def open_() -> Store:
            folder = root / name
            folder.mkdir(exist_ok=True)
            return plugins.load("stores", name)(data_dir=folder, space=embedder.space, dim=embedder.dim,
                                                namespace="congruence", **extra)
        return open_

    found: dict[str, Callable[[], Store]] = {
        "embedded": opener("embedded"),
        "memory": lambda: MemoryStore(space=embedder.space, dim=embedder.dim),
    }
    if "qdrant" in plugins.available("stores"):
        found["qdrant"] = opener("qdrant")
    if "postgres" in plugins.available("stores"):
        from dayshift.testing.pgvector_server import pgvector_server

        try:
            url = stack.enter_context(pgvector_server())
        except pytest.skip.Exception:
            url = None
        if url:
            found["postgres"] = opener("postgres", url=url)
    return found


@pytest.fixture(scope="module")
def rankings(corpus: Path, embedder: Embedder, tmp_path_factory: pytest.TempPathFactory
             ) -> Iterator[dict[str, dict[tuple[str, str], list[tuple[str, float]]]]]:
    root = tmp_path_factory.mktemp("congruence")
    cache = root / "embed_cache.sqlite"
    out: dict[str, dict[tuple[str, str], list[tuple[str, float]]]] = {}
    with ExitStack() as stack:
        for name, open_store in _backends(stack, root, embedder).items():
            store = open_store()
            stack.callback(store.close)
            Ingestor(store=store, embedder=embedder, catalog=Catalog(root / f"{name}-catalog.sqlite"),
                     cache=EmbeddingCache(cache)).sync(corpus)
            retriever = Retriever(store, embedder, settings=RetrieveSettings())
            out[name] = {
                (query, mode): [(h.chunk.chunk_id, h.score) for h in retriever.search(query, k=5, mode=mode).hits]
                for query in QUERIES for mode in ("keyword", "dense", "hybrid")
            }
        yield out


def _same(expected: list[tuple[str, float]], got: list[tuple[str, float]]) -> bool:
    if [c for c, _ in expected] == [c for c, _ in got]:
        return True
    # Allow swaps between hits tied to 1e-4, and a different 5th hit when it ties with the 6th.
    if len(expected) != len(got):
        return False
    for (ce, se), (cg, sg) in zip(expected, got):
        if ce != cg and abs(se - sg) > 1e-4:
            return False
    return True


@pytest.mark.parametrize("mode", ["keyword", "dense", "hybrid"])
def test_every_backend_returns_the_embedded_stores_top_results(
    rankings: dict[str, dict[tuple[str, str], list[tuple[str, float]]]], mode: str
) -> None:
    assert len(rankings) >= 2
    baseline = rankings["embedded"]
    for name, ranked in rankings.items():
        differ = [q for q in QUERIES if not _same(baseline[(q, mode)], ranked[(q, mode)])]
        assert not differ, f"{name} {mode}: {differ[:3]} -> {ranked[(differ[0], mode)]} vs {baseline[(differ[0], mode)]}"


def test_the_baseline_is_not_empty(rankings: dict[str, dict[tuple[str, str], list[tuple[str, float]]]]) -> None:
    assert all(len(hits) == 5 for hits in rankings["embedded"].values())
