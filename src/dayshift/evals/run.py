"""`dayshift eval run`: every case through the whole pipeline, scored, stored with its exact configuration.

Each case is asked the way a user asks it -- retrieval, excerpts, the model,
the support check, the abstention decision -- and scored on what came back:

    retrieval     recall@k, MRR and nDCG@k of the retrieved documents against the expected ones
    answer        exact match, token F1 and semantic similarity against the expected answers
    grounding     the share of the answer's claims supported by the chunks it cites
    citations     the share of cited documents that are expected ones
    abstention    abstained exactly when the case is unanswerable
    output        JSON validity (prompts that ask for JSON), latency, tokens and cost

A case *passes* when an answerable case is answered with token F1 >= min_f1 or
with an expected answer inside it, when an unanswerable case is abstained on,
and, for a retrieval-only case (answerable, no expected answer), when an
expected document is in the top k. Cases run in parallel worker processes, each
with its own model (one thread each: the local model is fastest that way), and
completions come from the eval cache when the same request was made before.

A run is saved as one JSON file under data_dir/evals/runs/ with its config:
prompt ref and content hash, model, index version, settings hash, dataset and
its hash, so any number in a report can be traced to what produced it.
"""

from __future__ import annotations

import hashlib
import json
import multiprocessing
import os
import time
import uuid
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel

from dayshift.errors import ConfigError
from dayshift.evals.cases import Dataset, EvalCase
from dayshift.settings import Settings

SCORE_NAMES = (
    "exact_match", "f1", "semantic_similarity", "groundedness", "citation_precision",
    "recall_at_k", "mrr", "ndcg_at_k", "abstention_correct", "json_valid",
)


@dataclass(frozen=True, slots=True)
class RunConfig:
    """Everything that decides a run's results."""

    prompt: str  # name@vN
    prompt_hash: str
    model: str
    index_version: str
    settings_hash: str
    dataset: str
    dataset_hash: str
    repeats: int
    min_f1: float
    k: int


CaseKind = Literal["answer", "abstain", "retrieval"]


def case_kind(case: EvalCase) -> CaseKind:
    """What a case checks: an answer, an abstention (unanswerable), or retrieval only (no expected answer)."""
    if not case.answerable:
        return "abstain"
    return "answer" if case.expected_answers else "retrieval"


@dataclass(slots=True)
class CaseResult:
    case_id: str
    repeat: int
    passed: bool
    kind: CaseKind
    answer: str
    abstained: bool
    confidence: float
    retrieved: list[str]  # document ids, best first, each once
    cited: list[str]
    scores: dict[str, float | None]
    latency_ms: float
    input_tokens: int = 0
    output_tokens: int = 0
    cost_usd: float = 0.0
    cached: bool = False
    error: str | None = None


@dataclass(slots=True)
class EvalRun:
    run_id: str
    started_at: str
    config: RunConfig
    results: list[CaseResult]
    seconds: float
    cases: dict[str, EvalCase] = field(default_factory=dict)  # by id: what each result was scored against

    def summary(self) -> dict[str, Any]:
        """Means over every result (repeats included) and the pass rate."""
        n = len(self.results)
        out: dict[str, Any] = {"results": n, "cases": len({r.case_id for r in self.results})}
        out["pass_rate"] = sum(r.passed for r in self.results) / n if n else 0.0
        out["mean_score"] = sum(case_score(r) for r in self.results) / n if n else 0.0
        for name in SCORE_NAMES:
            values = [v for r in self.results if (v := r.scores.get(name)) is not None]
            out[name] = sum(values) / len(values) if values else None
        latencies = sorted(r.latency_ms for r in self.results if not r.cached)  # a cached answer's time is not one
        out["latency_p50_ms"] = latencies[len(latencies) // 2] if latencies else None
        out["latency_results"] = len(latencies)
        out["input_tokens"] = sum(r.input_tokens for r in self.results)
        out["output_tokens"] = sum(r.output_tokens for r in self.results)
        out["cost_usd"] = sum(r.cost_usd for r in self.results)
        out["cached"] = sum(r.cached for r in self.results)
        out["errors"] = sum(r.error is not None for r in self.results)
        out["cases_per_min"] = 60.0 * n / self.seconds if self.seconds > 0 else None
        return out

    def to_json(self) -> dict[str, Any]:
        return {
            "run_id": self.run_id, "started_at": self.started_at, "seconds": self.seconds,
            "config": asdict(self.config), "summary": self.summary(),
            "results": [asdict(r) for r in self.results],
            "cases": {cid: c.to_json() for cid, c in self.cases.items()},
        }

    @classmethod
    def from_json(cls, data: dict[str, Any], *, where: str) -> EvalRun:
        return cls(
            run_id=data["run_id"], started_at=data["started_at"], seconds=data["seconds"],
            config=RunConfig(**data["config"]), results=[CaseResult(**r) for r in data["results"]],
            cases={cid: EvalCase.from_json(c, where=f"{where}: case {cid}") for cid, c in data.get("cases", {}).items()},
        )

    def save(self, folder: Path) -> Path:
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"{self.run_id}.json"
        temp = path.with_suffix(".json.tmp")
        temp.write_text(json.dumps(self.to_json(), indent=1) + "\n", encoding="utf-8")
        os.replace(temp, path)
        return path


def case_score(result: CaseResult) -> float:
    """One number per result, for averages: F1 for answers, 1/0 for abstentions, recall@k for retrieval-only."""
    name = {"answer": "f1", "abstain": "abstention_correct", "retrieval": "recall_at_k"}[result.kind]
    return float(result.scores.get(name) or 0.0)


def load_run(path: Path) -> EvalRun:
    try:
        return EvalRun.from_json(json.loads(path.read_text(encoding="utf-8")), where=str(path))
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ConfigError(f"{path}: not a readable eval run ({exc}); run `dayshift eval run` again") from exc


def runs_dir(settings: Settings) -> Path:
    return settings.data_dir / "evals" / "runs"


def cache_path(settings: Settings) -> Path:
    return settings.data_dir / "evals" / "cache.sqlite"


# -- configuration identity ----------------------------------------------------------------------


def settings_hash(settings: Settings) -> str:
    """A hash of what shapes answers: embedding, store, retrieval, model and answer settings.

    Secrets (fields hidden from repr: keys, database URLs) and the prompt (recorded on its own) are left out.
    """
    shape = {name: _public(getattr(settings, name)) for name in ("embed", "store", "retrieve", "llm", "answer")}
    shape["answer"].pop("prompt", None)
    shape["llm"].pop("models_dir", None)  # where a reader is kept changes no answer
    shape["answer"].pop("prompt_dir", None)
    return hashlib.sha256(json.dumps(shape, sort_keys=True, default=str).encode()).hexdigest()[:16]


def _public(model: BaseModel) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, info in type(model).model_fields.items():
        if info.repr is False:
            continue
        value = getattr(model, name)
        if isinstance(value, BaseModel):
            out[name] = _public(value)
        elif isinstance(value, list) and value and isinstance(value[0], BaseModel):
            out[name] = [_public(v) for v in value]
        else:
            out[name] = value
    return out


def index_version(settings: Settings) -> str:
    """The index's version as the catalog names it: its last finished sync that changed anything."""
    from dayshift.assemble import open_catalog

    catalog = open_catalog(settings)
    try:
        return catalog.index_version()
    finally:
        catalog.close()


# -- running ---------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Task:
    case: EvalCase
    repeat: int


def run_eval(
    settings: Settings, dataset: Dataset, *, prompt: str, repeats: int = 1, workers: int | None = None,
    min_f1: float = 0.5, use_cache: bool = True, on_result: Callable[[CaseResult], None] | None = None,
) -> EvalRun:
    """Run every accepted case `repeats` times with the prompt `prompt` (a ref: qa, qa@3, qa@production)."""
    from dayshift.prompts import PromptRegistry

    cases = dataset.accepted()
    if not cases:
        raise ConfigError(f"{dataset.path}: no accepted case to run; accept some (status: accepted) or import a dataset")
    if repeats < 1:
        raise ConfigError(f"repeats must be at least 1, got {repeats}")
    template = PromptRegistry.from_settings(settings).get(prompt)
    run_settings = settings.model_copy(update={"answer": settings.answer.model_copy(update={"prompt": template.ref})})
    config = RunConfig(
        prompt=template.ref, prompt_hash=template.content_hash, model=_model_name(settings),
        index_version=index_version(settings), settings_hash=settings_hash(settings),
        dataset=str(dataset.path), dataset_hash=dataset.content_hash, repeats=repeats, min_f1=min_f1,
        k=settings.answer.k,
    )
    tasks = [Task(case, repeat) for repeat in range(repeats) for case in cases]
    started_at, started = datetime.now(UTC).isoformat(), time.perf_counter()
    workers = max(1, min(workers or (os.cpu_count() or 1), len(tasks)))
    results = list(_execute(run_settings, tasks, workers=workers, use_cache=use_cache, min_f1=min_f1,
                            sampled=template.params.get("temperature", 0) > 0, on_result=on_result))
    order = {(t.case.id, t.repeat): i for i, t in enumerate(tasks)}
    results.sort(key=lambda r: order[(r.case_id, r.repeat)])
    run = EvalRun(
        run_id=f"{datetime.now(UTC):%Y%m%dT%H%M%S}-{template.name}-v{template.version}-{uuid.uuid4().hex[:6]}",
        started_at=started_at, config=config, results=results, seconds=time.perf_counter() - started,
        cases={c.id: c for c in cases},
    )
    run.save(runs_dir(settings))
    return run


def _model_name(settings: Settings) -> str:
    """The primary model as traces name it: the server's model name, or the local model's file."""
    llm = settings.llm
    if llm.backend == "local":
        from dayshift.llm.readers import local_model_name

        return local_model_name(llm.model)
    return llm.model or llm.backend


def _execute(
    settings: Settings, tasks: Sequence[Task], *, workers: int, use_cache: bool, min_f1: float, sampled: bool,
    on_result: Callable[[CaseResult], None] | None,
) -> Iterable[CaseResult]:
    if workers == 1:
        worker = CaseWorker(settings, use_cache=use_cache, min_f1=min_f1, sampled=sampled)
        try:
            for task in tasks:
                result = worker.run(task)
                if on_result:
                    on_result(result)
                yield result
        finally:
            worker.close()
        return
    # spawn, not fork: the parent may hold threads and open databases a forked child must not inherit.
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(
        max_workers=workers, mp_context=context, initializer=_init_worker,
        initargs=(settings.model_dump_json(), use_cache, min_f1, sampled),
    ) as pool:
        futures = [pool.submit(_run_in_worker, task) for task in tasks]
        for future in as_completed(futures):
            result = future.result()
            if on_result:
                on_result(result)
            yield result


_WORKER: CaseWorker | None = None


def _init_worker(settings_json: str, use_cache: bool, min_f1: float, sampled: bool) -> None:
    global _WORKER
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    _WORKER = CaseWorker(Settings.model_validate_json(settings_json), use_cache=use_cache, min_f1=min_f1,
                         sampled=sampled)


def _run_in_worker(task: Task) -> CaseResult:
    assert _WORKER is not None, "the worker was not initialised"
    return _WORKER.run(task)


class CaseWorker:
    """One process's pipeline: an answerer over the index, the model behind the eval cache, the scorer."""

    def __init__(self, settings: Settings, *, use_cache: bool, min_f1: float, sampled: bool) -> None:
        from dayshift.assemble import open_answerer, open_embedder, open_llm
        from dayshift.evals.cache import CachedLLM, CachedQueryEmbedder, CompletionCache

        self.min_f1, self.sampled = min_f1, sampled
        self.embedder = open_embedder(settings)
        inner = open_llm(settings)
        self.cache = CompletionCache(cache_path(settings)) if use_cache else None
        self.llm = CachedLLM(inner, self.cache) if self.cache is not None else None
        self.answerer = open_answerer(settings, embedder=self.embedder, llm=self.llm or inner)  # type: ignore[arg-type]
        if self.cache is not None:  # excerpt selection and the scores embed the same sentences again and again
            self.answerer.embed_queries = CachedQueryEmbedder(self.embedder, self.cache)
        self.k = settings.answer.k

    def run(self, task: Task) -> CaseResult:
        case = task.case
        if self.llm is not None:
            self.llm.seed = task.repeat if self.sampled else None
        started = time.perf_counter()
        try:
            answer = self.answerer.ask(case.question).result()
        except Exception as exc:  # noqa: BLE001 -- a failed case is a result (it fails), never the end of the run
            return CaseResult(
                case_id=case.id, repeat=task.repeat, passed=False, kind=case_kind(case), answer="", abstained=False, confidence=0.0,
                retrieved=[], cited=[], scores={}, latency_ms=(time.perf_counter() - started) * 1000,
                error=f"{type(exc).__name__}: {exc}",
            )
        latency = (time.perf_counter() - started) * 1000
        cached = self.llm is not None and self.llm.last_cached and answer.completion is not None
        return score_answer(case, answer, repeat=task.repeat, latency_ms=latency, cached=cached, k=self.k,
                            min_f1=self.min_f1, embed=self._embed)

    def _embed(self, texts: list[str]) -> Any:
        if self.answerer.embed_queries is not None:
            return self.answerer.embed_queries(texts)
        return self.embedder.embed(texts, kind="query")

    def close(self) -> None:
        if self.cache is not None:
            self.cache.close()


def _unique(ids: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(ids))


def score_answer(
    case: EvalCase, answer: Any, *, repeat: int, latency_ms: float, cached: bool, k: int, min_f1: float,
    embed: Callable[[list[str]], Any],
) -> CaseResult:
    """Score one Answer (dayshift.answer.answerer.Answer) against its case."""
    from dayshift.answer.citations import strip_citations
    from dayshift.evals import metrics

    retrieved = _unique(h.chunk.doc_id for h in answer.retrieved)
    cited = _unique(s.chunk.doc_id for s in answer.cited)
    scores: dict[str, float | None] = dict.fromkeys(SCORE_NAMES)
    if case.expected_sources:
        scores.update(metrics.retrieval_scores(retrieved, case.expected_sources, k=k))
    scores["abstention_correct"] = float(metrics.abstention_correct(answer.abstained, case.answerable))
    text = strip_citations(answer.text) if not answer.abstained else ""
    if case.answerable and case.expected_answers:
        scores["exact_match"] = metrics.exact_match(text, case.expected_answers) if text else 0.0
        scores["f1"] = metrics.token_f1(text, case.expected_answers) if text else 0.0
        scores["semantic_similarity"] = metrics.semantic_similarity(text, case.expected_answers, embed) if text else 0.0
    if not answer.abstained:
        # the answer's own support check: the verdict that released it, sentence by sentence
        scores["groundedness"] = metrics.support_share(answer.support)
        if scores["groundedness"] is None:
            scores["groundedness"] = metrics.groundedness(text, [s.text for s in answer.cited])
        scores["citation_precision"] = (
            metrics.citation_precision(cited, case.expected_sources) if case.expected_sources else None
        )
    completion = answer.completion
    if completion is not None and text.lstrip().startswith(("{", "[")):
        scores["json_valid"] = float(metrics.json_valid(text))
    return CaseResult(
        case_id=case.id, repeat=repeat, passed=case_passed(case, answer.abstained, text, scores, min_f1=min_f1),
        kind=case_kind(case),
        answer=answer.text, abstained=answer.abstained, confidence=float(answer.confidence), retrieved=retrieved,
        cited=cited, scores=scores, latency_ms=latency_ms,
        input_tokens=completion.usage.input_tokens if completion else 0,
        output_tokens=completion.usage.output_tokens if completion else 0,
        cost_usd=completion.cost_usd if completion and not cached else 0.0, cached=cached,
    )


def case_passed(case: EvalCase, abstained: bool, text: str, scores: dict[str, float | None], *, min_f1: float) -> bool:
    from dayshift.evals.metrics import normalize_answer

    kind = case_kind(case)
    if kind == "abstain":
        return abstained
    if kind == "retrieval":  # an expected document in the top k
        return (scores.get("recall_at_k") or 0.0) > 0.0
    if abstained:
        return False
    said = f" {normalize_answer(text)} "
    inside = any((gold := normalize_answer(g)) and f" {gold} " in said for g in case.expected_answers)
    return inside or (scores.get("f1") or 0.0) >= min_f1
