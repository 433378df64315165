"""Build the configured backends from Settings: the one place that reads plugin names.

Entry points (CLI, server, benchmarks) call these; library code receives the
built objects and never looks at settings for backend choice.
"""

from __future__ import annotations

from typing import Any

from dayshift import plugins
from dayshift.embed.base import Embedder
from dayshift.embed.cache import EmbeddingCache
from dayshift.errors import ConfigError
from dayshift.ingest.catalog import Catalog
from dayshift.ingest.sync import Ingestor
from dayshift.retrieve.rerank import Reranker
from dayshift.retrieve.retriever import Retriever
from dayshift.settings import Settings
from dayshift.store.base import Store


def _kwargs(model: Any, *, exclude: set[str]) -> dict[str, Any]:
    return {k: v for k, v in model.model_dump(exclude=exclude).items() if v is not None}


def open_embedder(settings: Settings) -> Embedder:
    factory = plugins.load("embedders", settings.embed.backend)
    return factory(**_kwargs(settings.embed, exclude={"backend"}))  # type: ignore[no-any-return]


def open_store(settings: Settings, embedder: Embedder) -> Store:
    factory = plugins.load("stores", settings.store.backend)
    return factory(  # type: ignore[no-any-return]
        data_dir=settings.data_dir, space=embedder.space, dim=embedder.dim, **_kwargs(settings.store, exclude={"backend"})
    )


def open_reranker(settings: Settings) -> Reranker | None:
    r = settings.retrieve
    if r.rerank is None:
        return None
    factory = plugins.load("rerankers", r.rerank)
    if r.rerank == "cross-encoder" and not r.rerank_model:
        raise ConfigError("the cross-encoder re-ranker needs a model folder: set DAYSHIFT_RETRIEVE__RERANK_MODEL")
    if r.rerank == "http" and not r.rerank_url:
        raise ConfigError("the http re-ranker needs its address: set DAYSHIFT_RETRIEVE__RERANK_URL")
    return factory(model_path=r.rerank_model, base_url=r.rerank_url)  # type: ignore[no-any-return]


def open_retriever(settings: Settings, *, embedder: Embedder | None = None, store: Store | None = None) -> Retriever:
    embedder = embedder or open_embedder(settings)
    store = store or open_store(settings, embedder)
    return Retriever(store, embedder, settings=settings.retrieve, reranker=open_reranker(settings))


def open_ingestor(settings: Settings, *, embedder: Embedder | None = None, store: Store | None = None) -> Ingestor:
    embedder = embedder or open_embedder(settings)
    store = store or open_store(settings, embedder)
    return Ingestor(
        store=store,
        embedder=embedder,
        catalog=Catalog(settings.data_dir / "catalog.sqlite"),
        cache=EmbeddingCache(settings.data_dir / "embed_cache.sqlite"),
        settings=settings.ingest,
    )
