"""One typed settings object for the whole of dayshift.

Sources, highest priority first: explicit keyword arguments, `DAYSHIFT_*`
environment variables (nested with `__`, e.g. `DAYSHIFT_EMBED__BATCH_SIZE=64`),
a `dayshift.toml` file, then the defaults below. Settings are built once at an
entry point (CLI, server) with `load_settings()` and passed down; library code
never reads the environment itself.

Where state lives: by default everything is under `data_dir` (SQLite files and the
embedded index; nothing to set up). `database.url` names one Postgres database for all
of it: the chunks (store.backend becomes "postgres" unless set otherwise), the ingest
catalog, the embedding cache, the API keys, the usage ledger and the traces, each
tenant in its own schema (dayshift_<tenant>). `store.url` and `trace.url` still
override it for their part.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from dayshift.errors import ConfigError

_POSTGRES_URL = re.compile(r"^postgres(ql)?(\+[a-z0-9]+)?://")
DEFAULT_EXCLUDES = (".git", ".dayshift", "__pycache__", ".venv", "node_modules", ".*")


class IngestSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    max_file_mb: float = Field(100.0, gt=0)
    exclude: list[str] = Field(default_factory=lambda: list(DEFAULT_EXCLUDES))
    chunk_tokens: int = Field(256, ge=16, le=8192)  # in the embedding model's tokens
    chunk_overlap_tokens: int = Field(32, ge=0)
    # Estimated Jaccard of word 5-grams; 0.8 catches copies with a few edited words
    # (95% at 2 words in 300) with no false match among the 5,183 SciFact abstracts.
    near_duplicate_threshold: float = Field(0.8, gt=0.0, le=1.0)
    # Tabular exports: comma-free lists; None lets the loader choose.
    text_columns: list[str] | None = None
    metadata_columns: list[str] | None = None
    id_column: str | None = None
    title_column: str | None = None
    tables: list[str] | None = None

    @model_validator(mode="after")
    def _overlap_below_size(self) -> IngestSettings:
        if self.chunk_overlap_tokens >= self.chunk_tokens:
            raise ValueError(
                f"chunk_overlap_tokens ({self.chunk_overlap_tokens}) must be below "
                f"chunk_tokens ({self.chunk_tokens})"
            )
        return self


class EmbedSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    backend: str = "local"  # entry point in "dayshift.embedders"
    runtime: Literal["auto", "torch", "onnx"] = "auto"
    precision: Literal["auto", "fp32", "bf16", "bf16-int8"] = "auto"
    batch_size: int = Field(32, ge=1)
    threads: int | None = Field(None, ge=1)
    # OpenAI-compatible backend
    base_url: str | None = None
    model: str | None = None
    api_key: str | None = Field(None, repr=False)


class StoreSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    backend: str = "embedded"  # entry point in "dayshift.stores"
    url: str | None = Field(None, repr=False)
    read_url: str | None = Field(None, repr=False)  # a read replica for searches (Postgres)
    # Whose data this store holds: the tenant (dayshift.tenancy sets it). The embedded store keeps
    # each tenant in its own folder; server stores keep each in its own schema or collection.
    namespace: str = "default"


class RetrieveSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    mode: Literal["hybrid", "keyword", "dense"] = "hybrid"
    # Weighted (min-max normalised) fusion beat RRF on SciFact's 809 train queries: ADR 0003.
    fusion: Literal["rrf", "weighted"] = "weighted"
    rrf_k: int = Field(60, ge=1)
    dense_weight: float = Field(0.5, ge=0.0, le=1.0)  # weighted fusion; keyword gets 1 - this
    candidates: int = Field(100, ge=1)  # per retriever, before fusion / re-ranking
    # The dense side embeds at most this many model tokens of the query (None: all, up to the
    # model's 256); the keyword side reads all of it. 128 is the length all-MiniLM-L6-v2 was
    # trained on; ADR 0003's revision says what is measured and what is not yet.
    dense_query_tokens: int | None = Field(128, ge=1)
    rerank: str | None = None  # entry point in "dayshift.rerankers"; None = off
    rerank_model: str | None = None  # folder of a local cross-encoder
    rerank_url: str | None = None  # base URL of a rerank HTTP API
    rerank_candidates: int = Field(50, ge=1)


class ModelSettings(BaseModel):
    """One model of the LLM fallback chain."""

    model_config = ConfigDict(extra="forbid")

    backend: str = "local"  # entry point in "dayshift.llms"
    model: str | None = None  # server-side model name; for "local", a .gguf path (default: the bundled SmolLM2)
    base_url: str | None = None  # OpenAI-compatible servers, e.g. http://127.0.0.1:8000/v1
    api_key: str | None = Field(None, repr=False)
    context_window: int | None = Field(None, ge=256)  # tokens; None: the backend's own figure
    # Whether prompts stay on this machine. None: "local" is, every server is not,
    # so PII is redacted before any server call unless this is set to True.
    is_local: bool | None = None


class LLMSettings(ModelSettings):
    fallbacks: list[ModelSettings] = Field(default_factory=list)  # tried in order when this model fails
    connect_timeout_s: float = Field(5.0, gt=0)
    read_timeout_s: float = Field(60.0, gt=0)  # longest silence between two pieces of a response
    total_timeout_s: float = Field(300.0, gt=0)  # the whole call: retries and fallbacks included
    max_retries: int = Field(2, ge=0)  # per model, after the first attempt
    backoff_base_s: float = Field(0.5, ge=0)
    backoff_max_s: float = Field(20.0, ge=0)
    breaker_failures: int = Field(5, ge=1)  # consecutive failures that open a model's circuit
    breaker_reset_s: float = Field(30.0, gt=0)  # how long an open circuit rests before one trial call
    redact_pii: Literal["auto", "always", "never"] = "auto"  # auto: before every non-local model
    # The indexed text a prompt quotes (its sources), in a call that redact_pii redacts: "never" sends
    # it as indexed, so answers keep its words; "always" redacts the names and places in it too.
    redact_sources: Literal["never", "always"] = "never"
    prices_file: Path | None = None  # TOML price table; None: the one shipped with dayshift
    request_budget_usd: float | None = Field(None, ge=0)
    tenant_daily_budget_usd: float | None = Field(None, ge=0)
    # Local readers (backend "local"): `model` is a reader name (llm/readers.py) or a .gguf path.
    threads: int = Field(1, ge=1)  # threads generating tokens; one measured fastest on two cores
    # Threads reading the prompt; None: `threads`. Two measured 1.29 against 1.82 s per answer on two cores
    # (Qwen2.5-Coder-1.5B, one excerpt): reading parallelises, generating one token at a time does not.
    batch_threads: int | None = Field(2, ge=1)
    n_ctx: int = Field(2048, ge=256)  # local model's context window
    # Where readers shipped in parts are joined and checked on first use; None: <data_dir>/models,
    # fixed when settings are loaded, so tenants and the demo share the root's folder.
    models_dir: Path | None = None
    # The llama.cpp CPU kernels: None chooses the best this CPU runs (never AMX); a name forces one.
    cpu_variant: str | None = None
    # dayshift's own chat template for a .gguf path ("chatml"), or "gguf" for the file's own; None: the
    # reader's (always dayshift's for the shipped readers), "gguf" for a path.
    chat_template: str | None = None

    @model_validator(mode="after")
    def _sources_only_where_redacted(self) -> LLMSettings:
        if self.redact_sources == "always" and self.redact_pii == "never":
            raise ValueError(
                'redact_sources = "always" needs PII redaction, but redact_pii is "never": '
                'set redact_pii to "auto" or "always", or redact_sources to "never"'
            )
        return self


class AnswerSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    # A prompt ref: "answer" (its production label, else its highest version), "qa@3", "qa@production".
    prompt: str = "answer"
    json_prompt: str = "answer-json"  # the prompt of structured answers (ask --schema, response_format)
    # Your prompt folder (searched before the shipped prompts); it holds labels.yaml and the registry log.
    prompt_dir: Path | None = None
    k: int = Field(5, ge=1)  # chunks retrieved for the answer
    # Show the model this many excerpts (the sentence that bears most on the question,
    # with the one before it) instead of whole chunks; 0 shows whole chunks, packed
    # within the context window. One suits the bundled 135M model best (SQuAD 2.0
    # F1 0.21 against 0.19 with three, and 30% faster); larger models read more.
    excerpts: int = Field(1, ge=0)
    max_answer_tokens: int = Field(192, ge=16)
    # Confidence below this abstains. None: data_dir/calibration.json from
    # `dayshift calibrate`, else the shipped default.
    abstain_threshold: float | None = Field(None, ge=0.0, le=1.0)
    support_check: bool = True  # every sentence of a draft must be in the text it cites, or it is withdrawn
    # Share of a sentence's new terms that must be in its sources (a verbatim sentence always passes).
    min_sentence_support: float = Field(0.75, gt=0.0, le=1.0)
    # What replaces a withdrawn draft: the fixed "I don't know", or that plus the best passage quoted.
    unsupported: Literal["abstain", "quote"] = "abstain"
    # Ask the reader yes/no checks (whether the text answers the question, whether it states the draft),
    # each where the abstention model weighs it (local readers: a dozen more tokens per check).
    self_check: bool = True
    # Run every check even where the abstention model gives it no weight: for fitting a new model.
    measure_all_evidence: bool = False


class AgentSettings(BaseModel):
    """`dayshift agent`, POST /v1/agent: its prompt, tools and budgets (dayshift.agents)."""

    model_config = ConfigDict(extra="forbid")

    prompt: str = "agent"  # a prompt ref, as answer.prompt: the agent's system prompt in the registry
    tools: list[str] = Field(default_factory=lambda: ["search_docs", "sql", "calculator"])  # entry point names
    # What the sql tool reads: SQLite files, CSV/TSV/JSONL files, or one Postgres URL (--db adds to it).
    databases: list[str] = Field(default_factory=list)
    # Budgets per task, each checked before every model call: an overrun stops the run with its reason.
    max_steps: int = Field(8, ge=1, le=100)  # model calls
    max_seconds: float = Field(180.0, gt=0)
    max_tokens: int = Field(30000, ge=256)  # input and output, all calls
    max_cost_usd: float = Field(0.10, ge=0)
    max_invalid_calls: int = Field(3, ge=1)  # calls whose arguments do not validate, before the run stops
    max_repeats: int = Field(2, ge=1)  # the same call with the same arguments again, before the run stops
    # The first model call is offered the tools but not final_answer: an answer must cite a result, so
    # one given before any tool ran could only come from memory.
    look_first: bool = True
    step_max_tokens: int | None = Field(None, ge=16)  # output per call; None: the prompt's max_tokens, else 256
    n_ctx: int = Field(8192, ge=1024)  # a local model's context window when dayshift agent loads it
    # What the model is shown of each result (the trace keeps it whole, up to trace_result_chars).
    result_chars: int = Field(2500, ge=200)
    trace_result_chars: int = Field(4000, ge=200)
    quarantine: bool = True  # sentences of tool output addressed to an AI are withheld from the model
    search_k: int = Field(3, ge=1, le=20)
    passage_chars: int = Field(700, ge=100)
    sql_max_rows: int = Field(20, ge=1, le=1000)
    sql_timeout_s: float = Field(10.0, gt=0)
    # fetch_url fetches only from these hosts ("docs.python.org", "*.nist.gov"); empty: fetch_url is off.
    fetch_allow_hosts: list[str] = Field(default_factory=list)
    fetch_max_bytes: int = Field(200_000, ge=1000)
    # A final answer keeps links only to these hosts, fetch_allow_hosts and hosts the task names; any other
    # link is taken out (a document can ask for "this image" whose URL carries data away): agents/links.py.
    answer_link_hosts: list[str] = Field(default_factory=list)


class TraceSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    enabled: bool = True
    cli: bool = True  # `dayshift ask` and `dayshift search` leave traces too (cli/tracing.py)
    # SQLAlchemy URL of the trace database; None: sqlite under data_dir/traces.sqlite.
    # Postgres: postgresql+psycopg://user:password@host/db
    url: str | None = Field(None, repr=False)
    # "redacted": question and answer pass the PII redactor before they are stored;
    # "none": they are not stored at all; "raw": stored as given (a deliberate choice).
    store_text: Literal["redacted", "none", "raw"] = "redacted"
    retention_days: int | None = Field(None, ge=1)
    # OpenTelemetry: spans are exported over OTLP/HTTP when an endpoint is set.
    otlp_endpoint: str | None = None
    service_name: str = "dayshift"


class ServiceSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    host: str = "127.0.0.1"
    port: int = Field(8000, ge=0, le=65535)
    # The admin key reaches every tenant, the traces of all, and key management.
    admin_key: str | None = Field(None, repr=False)
    # With no key at all (no admin key, no tenant keys), a loopback server runs open,
    # every request as the "default" tenant; any other host refuses to start.
    rate_limit_per_minute: int = Field(600, ge=1)  # per key, sustained
    rate_limit_burst: int = Field(60, ge=1)  # per key, requests allowed at once
    max_request_kb: int = Field(256, ge=1)  # JSON bodies
    max_upload_mb: float = Field(50.0, gt=0)  # one upload request, all files together
    max_question_chars: int = Field(2000, ge=1)
    ask_concurrency: int = Field(2, ge=1)  # answers generated at once; more wait
    tenant_cache: int = Field(32, ge=1)  # tenants whose indexes stay open
    # Eval datasets (JSONL) the review page lists and edits; None: <data_dir>/evals.
    eval_dir: Path | None = None


class RouteSLO(BaseModel):
    """One route's latency objectives: p50 and p99 of its requests under these (None: not checked)."""

    model_config = ConfigDict(extra="forbid")

    p50_ms: float | None = Field(None, gt=0)
    p99_ms: float | None = Field(None, gt=0)


def _default_slo() -> dict[str, RouteSLO]:
    # Starting points for the bundled models on a laptop-class CPU; set your own in dayshift.toml.
    answer = RouteSLO(p50_ms=8000, p99_ms=30000)
    return {"/v1/search": RouteSLO(p50_ms=150, p99_ms=1000), "/v1/ask": answer, "/v1/chat/completions": answer}


class MonitorSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    # [monitor.slo."/v1/ask"] p50_ms = 8000, p99_ms = 30000: the monitor's latency_slo check grades each
    # route's p50 and p99 against these, burn-rate style (monitor/rules.toml says how).
    slo: dict[str, RouteSLO] = Field(default_factory=_default_slo)

    @model_validator(mode="after")
    def _routes(self) -> MonitorSettings:
        bad = [route for route in self.slo if not route.startswith("/")]
        if bad:
            raise ValueError(f'monitor.slo keys are routes such as "/v1/ask", not {bad}')
        return self


class DatabaseSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    # One Postgres database for everything dayshift keeps, e.g. postgresql://user:password@host/db
    # (SQLAlchemy's postgresql+psycopg:// spelling works too). When set, the ingest catalog, the
    # embedding cache, the API keys and the usage ledger live there, in the schema of the
    # tenant (store.namespace: dayshift_<namespace>), not in SQLite files under data_dir; it is
    # also the default of store.url (store.backend defaults to "postgres") and of trace.url.
    # None: the SQLite files, as always. Existing files are not copied in: after switching, a
    # first ingest reads and embeds every file again, and API keys must be created again.
    url: str | None = Field(None, repr=False)


class FinetuneSettings(BaseModel):
    """`dayshift finetune`: where runs are logged (dayshift.finetune)."""

    model_config = ConfigDict(extra="forbid")

    # mlflow: a local store under data_dir/mlruns (`mlflow ui` shows it); wandb: offline, under data_dir/wandb.
    tracker: Literal["mlflow", "wandb", "none"] = "mlflow"
    seed: int = 13


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="DAYSHIFT_",
        env_nested_delimiter="__",
        toml_file="dayshift.toml",
        extra="forbid",
    )

    data_dir: Path = Path(".dayshift")
    ingest: IngestSettings = Field(default_factory=IngestSettings)
    embed: EmbedSettings = Field(default_factory=EmbedSettings)
    store: StoreSettings = Field(default_factory=StoreSettings)
    retrieve: RetrieveSettings = Field(default_factory=RetrieveSettings)
    llm: LLMSettings = Field(default_factory=LLMSettings)
    answer: AnswerSettings = Field(default_factory=AnswerSettings)
    agent: AgentSettings = Field(default_factory=AgentSettings)
    trace: TraceSettings = Field(default_factory=TraceSettings)
    service: ServiceSettings = Field(default_factory=ServiceSettings)
    database: DatabaseSettings = Field(default_factory=DatabaseSettings)
    monitor: MonitorSettings = Field(default_factory=MonitorSettings)
    finetune: FinetuneSettings = Field(default_factory=FinetuneSettings)

    @model_validator(mode="after")
    def _models_under_data_dir(self) -> Settings:
        if self.llm.models_dir is None:
            self.llm = self.llm.model_copy(update={"models_dir": self.data_dir / "models"})
        return self

    @model_validator(mode="after")
    def _one_database(self) -> Settings:
        """With database.url, the store and the traces go to that database unless told otherwise."""
        url = self.database.url
        if url is None:
            return self
        if not _POSTGRES_URL.match(url):
            raise ValueError("database.url must be a Postgres URL: postgresql://user:password@host/db")
        store = self.store
        if "backend" not in store.model_fields_set:
            store = store.model_copy(update={"backend": "postgres"})
        if store.backend == "embedded":
            raise ValueError(
                'database.url keeps the ingest catalog in Postgres, so the index cannot stay in files: leave '
                'store.backend unset (it is "postgres" with database.url), or unset database.url'
            )
        if store.backend == "postgres" and store.url is None:
            store = store.model_copy(update={"url": url})
        self.store = store
        if self.trace.url is None:
            self.trace = self.trace.model_copy(update={"url": url})
        return self

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (init_settings, env_settings, TomlConfigSettingsSource(settings_cls))


def load_settings(config_file: Path | None = None, **overrides: Any) -> Settings:
    """Build Settings, turning validation failures into a ConfigError that names the field."""
    try:
        if config_file is None:
            return Settings(**overrides)
        if not config_file.is_file():
            raise ConfigError(f"config file {config_file} not found; pass an existing dayshift.toml")

        class _FromFile(Settings):
            model_config = SettingsConfigDict(toml_file=config_file)

        return Settings.model_validate(_FromFile(**overrides).model_dump())
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc']) or 'settings'}: {err['msg']}" for err in exc.errors()
        )
        raise ConfigError(
            f"invalid settings ({problems}); fix dayshift.toml or the DAYSHIFT_* variable of that name"
        ) from exc
