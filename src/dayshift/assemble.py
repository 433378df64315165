"""Build the configured backends from Settings: the one place that reads plugin names.

Entry points (CLI, server, benchmarks) call these; library code receives the
built objects and never looks at settings for backend choice.

What sync, the service and the meter keep besides the index (the ingest catalog, the
embedding cache, the API keys, the usage ledger) is in SQLite files under data_dir, or,
with `database.url`, in tables of the Postgres schema of `store.namespace` (the tenant;
dayshift.tenancy sets it): `open_catalog`, `open_embedding_cache`, `open_key_ring`,
`open_ledger`. The Postgres modules are imported only then.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from dayshift import plugins
from dayshift.embed.base import Embedder
from dayshift.embed.cache import CACHE_FILE, EmbeddingCache, VectorCache
from dayshift.errors import ConfigError
from dayshift.ingest.catalog import Catalog
from dayshift.ingest.catalog_base import IngestCatalog
from dayshift.ingest.sync import Ingestor
from dayshift.llm.client import LLMClient
from dayshift.retrieve.rerank import Reranker
from dayshift.retrieve.retriever import Retriever
from dayshift.settings import Settings
from dayshift.store.base import Store

if TYPE_CHECKING:
    from dayshift.answer.answerer import Answerer
    from dayshift.keys import KeyRing
    from dayshift.llm.accounting import UsageLedger

CATALOG_FILE = "catalog.sqlite"  # in Settings.data_dir


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
    # data_dir: the "registry" re-ranker reads the model registry under it (dayshift.finetune.registry)
    return factory(model_path=r.rerank_model, base_url=r.rerank_url, data_dir=settings.data_dir)  # type: ignore[no-any-return]


def open_retriever(settings: Settings, *, embedder: Embedder | None = None, store: Store | None = None) -> Retriever:
    from dayshift.retrieve.aliases import DuplicateAliases
    from dayshift.retrieve.calibrate import fitted_settings

    embedder = embedder or open_embedder(settings)
    store = store or open_store(settings, embedder)
    retrieve = fitted_settings(settings.retrieve, settings.data_dir)  # `dayshift calibrate --retrieval`'s fusion
    aliases = DuplicateAliases(lambda: open_catalog(settings))  # de-duplicated documents, found by document search
    return Retriever(store, embedder, settings=retrieve, reranker=open_reranker(settings), aliases=aliases)


def open_ingestor(settings: Settings, *, embedder: Embedder | None = None, store: Store | None = None) -> Ingestor:
    embedder = embedder or open_embedder(settings)
    store = store or open_store(settings, embedder)
    return Ingestor(
        store=store,
        embedder=embedder,
        catalog=open_catalog(settings),
        cache=open_embedding_cache(settings),
        settings=settings.ingest,
    )


def open_catalog(settings: Settings) -> IngestCatalog:
    """data_dir/catalog.sqlite, or the catalog tables in Postgres with database.url."""
    if settings.database.url is None:
        return Catalog(settings.data_dir / CATALOG_FILE)
    from dayshift.ingest.catalog_postgres import PostgresCatalog

    return PostgresCatalog(settings.database.url, namespace=settings.store.namespace)


def open_embedding_cache(settings: Settings) -> VectorCache:
    """data_dir/embed_cache.sqlite, or the embedding_cache table in Postgres with database.url."""
    if settings.database.url is None:
        return EmbeddingCache(settings.data_dir / CACHE_FILE)
    from dayshift.embed.cache_postgres import PostgresEmbeddingCache

    return PostgresEmbeddingCache(settings.database.url, namespace=settings.store.namespace)


def open_key_ring(settings: Settings) -> KeyRing:
    """The API keys: data_dir/keys.sqlite, or the api_keys table in Postgres with database.url."""
    from dayshift.keys import KEYS_FILE, KeyRing

    if settings.database.url is None:
        return KeyRing(settings.data_dir / KEYS_FILE)
    from dayshift.keys.postgres import PostgresKeyStore

    return KeyRing(PostgresKeyStore(settings.database.url, namespace=settings.store.namespace))


def open_ledger(settings: Settings) -> UsageLedger:
    """The usage ledger: data_dir/usage.sqlite, or the usage_calls table in Postgres with database.url."""
    from dayshift.llm.accounting import LEDGER_FILE, Ledger

    if settings.database.url is None:
        return Ledger(settings.data_dir / LEDGER_FILE)
    from dayshift.llm.ledger_postgres import PostgresLedger

    return PostgresLedger(settings.database.url, namespace=settings.store.namespace)


def open_llm(settings: Settings) -> LLMClient:
    """The LLMClient over settings.llm and its fallbacks, with a redactor and meter as needed.

    Each model of the chain is its plugin called with its ModelSettings fields
    (unset ones left to the plugin's defaults); "local" also gets the local reader's
    settings that are set (`threads`, `batch_threads`, `n_ctx`, `models_dir`, `cpu_variant`, `chat_template`). Presidio is loaded only when some model of the chain needs redaction.
    """
    from dayshift.http import RetryPolicy
    from dayshift.llm.accounting import UsageMeter
    from dayshift.llm.base import Timeouts
    from dayshift.settings import ModelSettings

    llm = settings.llm
    chain = []
    for model in (llm, *llm.fallbacks):
        kwargs = {k: getattr(model, k) for k in ModelSettings.model_fields if k != "backend"}
        kwargs = {k: v for k, v in kwargs.items() if v is not None}
        if model.backend == "local":
            local = {"threads": llm.threads, "batch_threads": llm.batch_threads, "n_ctx": llm.n_ctx,
                     "models_dir": llm.models_dir, "cpu_variant": llm.cpu_variant, "chat_template": llm.chat_template}
            kwargs.update({k: v for k, v in local.items() if v is not None})
        chain.append(plugins.load("llms", model.backend)(**kwargs))
    needs_redaction = llm.redact_pii == "always" or (llm.redact_pii == "auto" and not all(b.is_local for b in chain))
    redactor = None
    if needs_redaction:
        from dayshift.llm.pii import PresidioRedactor

        redactor = PresidioRedactor()
    return LLMClient(
        chain,
        timeouts=Timeouts(connect_s=llm.connect_timeout_s, read_s=llm.read_timeout_s, total_s=llm.total_timeout_s),
        retry=RetryPolicy(
            max_retries=llm.max_retries, backoff_base_s=llm.backoff_base_s, backoff_max_s=llm.backoff_max_s
        ),
        breaker_failures=llm.breaker_failures,
        breaker_reset_s=llm.breaker_reset_s,
        redactor=redactor,
        redact=llm.redact_pii,
        redact_sources=llm.redact_sources,
        meter=UsageMeter.from_settings(settings, ledger=open_ledger(settings)),
    )


def open_answerer(
    settings: Settings, *, embedder: Embedder | None = None, store: Store | None = None,
    llm: LLMClient | None = None, abstain_threshold: float | None = None,
) -> Answerer:
    """Retriever + LLM client + prompt + abstention model (data_dir/calibration.json or the default).

    The prompt is answer.prompt resolved by the prompt registry: "answer", "qa@3" or "qa@production".
    """
    from dayshift.answer.abstain import load_abstention_model
    from dayshift.answer.answerer import Answerer
    from dayshift.prompts import PromptRegistry

    registry = PromptRegistry.from_settings(settings)
    prompt = registry.get(settings.answer.prompt)  # a bad ref fails before models load
    json_prompt = registry.get(settings.answer.json_prompt)
    embedder = embedder or open_embedder(settings)
    store = store or open_store(settings, embedder)
    retriever = open_retriever(settings, embedder=embedder, store=store)
    llm = llm or open_llm(settings)
    primary = llm.chain[0]
    threshold = abstain_threshold if abstain_threshold is not None else settings.answer.abstain_threshold
    return Answerer(
        retriever, llm, prompt=prompt,
        abstention=load_abstention_model(settings.data_dir, threshold=threshold),
        count_tokens=primary.count_tokens, context_window=primary.context_window, settings=settings.answer,
        embed_queries=lambda texts: embedder.embed(list(texts), kind="query"), keyword_store=store,
        json_prompt=json_prompt,
    )
