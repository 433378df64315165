"""Replay a trace: its question answered again as it was set up, and again with one change, side by side.

    result = replay(settings, record, prompt="qa@candidate", overrides=["retrieve.mode=keyword"])
    result.before, result.after      # Run: the answer, verdict, confidence, detail (trace/detail.py) of each
    result.differences()             # [Difference(what, before, after)]: only what changed

"Before" is the trace's own prompt version and the retrieval settings it recorded (mode, fusion, dense
weight, candidates), the rest as set today, run now rather than read from the trace, so that the only
difference between the two runs is the change asked for (the index may have moved on since the trace;
`recorded_matches` says whether the rerun agrees with the trace). Both runs
share one embedder, store and model; the replay is not traced and its model cost is booked to no tenant.

Left out: replaying searches (/v1/search traces carry no answer to compare) and conversation history.
"""

from __future__ import annotations

import re
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from dayshift.assemble import open_answerer, open_embedder, open_llm, open_store
from dayshift.debugger.overrides import apply_overrides, recorded_retrieval
from dayshift.errors import ConfigError
from dayshift.retrieve.filters import parse_filters
from dayshift.settings import Settings
from dayshift.tenancy import tenant_settings
from dayshift.trace.detail import answer_detail, record_retrieval, recording
from dayshift.trace.record import TraceRecord

__all__ = ["Difference", "ReplayResult", "Run", "replay", "trace_prompt"]

_SHARED = ("embed", "store", "database", "data_dir")
_PLACEHOLDER = re.compile(r"<[A-Z_]+_\d+>")  # settings a replay may not change: they pick the index


@dataclass(frozen=True, slots=True)
class Run:
    label: str  # "before" / "after"
    prompt: str  # name@vN
    changes: tuple[str, ...]  # the --set assignments (and the prompt) this run used
    text: str
    abstained: bool
    confidence: float
    threshold: float
    reason: str
    detail: dict[str, Any]
    latency_ms: float
    tokens: tuple[int, int]  # input, output

    @property
    def verdict(self) -> str:
        if not self.abstained:
            return "answered"
        stage = self.detail.get("verdict", {}).get("stage")
        return "abstained before generating" if stage == "retrieval" else "abstained after the support check"

    @property
    def retrieved(self) -> list[str]:
        return [c["chunk_id"] for c in self.detail.get("retrieval", {}).get("chunks", [])]


@dataclass(frozen=True, slots=True)
class Difference:
    what: str
    before: str
    after: str


@dataclass(slots=True)
class ReplayResult:
    trace_id: str
    question: str
    before: Run
    after: Run
    recorded: dict[str, Any] = field(default_factory=dict)  # the trace's own answer, abstained, confidence

    @property
    def recorded_matches(self) -> bool:
        return (self.recorded.get("abstained") == self.before.abstained
                and (self.recorded.get("answer") or "") == self.before.text)

    @property
    def redacted(self) -> bool:
        """The stored question holds PII placeholders (trace.store_text = "redacted"): the replay asks that."""
        return bool(_PLACEHOLDER.search(self.question))

    @property
    def flipped(self) -> bool:
        return self.before.abstained != self.after.abstained

    def differences(self) -> list[Difference]:
        b, a = self.before, self.after
        rows = [("verdict", b.verdict, a.verdict), ("answer", b.text, a.text),
                ("confidence", f"{b.confidence:.3f} (threshold {b.threshold:.3f})",
                 f"{a.confidence:.3f} (threshold {a.threshold:.3f})"),
                ("reason", b.reason or "-", a.reason or "-"), ("prompt", b.prompt, a.prompt),
                ("draft", b.detail.get("draft") or "-", a.detail.get("draft") or "-"),
                ("retrieved", _ranked(b.retrieved), _ranked(a.retrieved)),
                ("excerpts", _excerpts(b.detail), _excerpts(a.detail))]
        evidence_b, evidence_a = b.detail.get("evidence") or {}, a.detail.get("evidence") or {}
        for name in dict.fromkeys([*evidence_b, *evidence_a]):
            rows.append((f"evidence: {name}", _num(evidence_b.get(name)), _num(evidence_a.get(name))))
        support_b, support_a = b.detail.get("support") or {}, a.detail.get("support") or {}
        rows.append(("support", _num(support_b.get("score")), _num(support_a.get("score"))))
        return [Difference(what, before, after) for what, before, after in rows if before != after]


def trace_prompt(record: TraceRecord) -> str:
    """The prompt ref a trace was answered with: name@version."""
    if not record.prompt_name:
        raise ConfigError(f"trace {record.trace_id} has no prompt: only answers (/v1/ask, /v1/chat/completions) "
                          "can be replayed")
    version = record.prompt_version or ""
    return f"{record.prompt_name}@{version}" if version else record.prompt_name


def replay(settings: Settings, record: TraceRecord, *, prompt: str | None = None,
           overrides: Sequence[str] = ()) -> ReplayResult:
    """Answer the trace's question before and after the change (a prompt ref and/or setting assignments)."""
    if record.query is None:
        raise ConfigError(f"trace {record.trace_id} holds no question (trace.store_text = \"none\"): it cannot be "
                          "replayed")
    if not prompt and not overrides:
        raise ConfigError("nothing to change: pass --prompt REF and/or --set section.key=value")
    base = apply_overrides(tenant_settings(settings, record.tenant), recorded_retrieval(record.detail))
    before_settings = _with_prompt(base, trace_prompt(record))
    after_settings = apply_overrides(_with_prompt(base, prompt or trace_prompt(record)), overrides)
    for name in _SHARED:
        if getattr(after_settings, name) != getattr(before_settings, name):
            raise ConfigError(f"a replay runs against the same index: --set cannot change {name}.*")
    embedder = open_embedder(before_settings)
    store = open_store(before_settings, embedder)
    llm = open_llm(before_settings)
    where = parse_filters(record.params.get("where") or [])
    changes = tuple([f"--prompt {prompt}"] if prompt else []) + tuple(f"--set {o}" for o in overrides)
    try:
        before = _run("before", before_settings, record.query, where, (), embedder=embedder, store=store, llm=llm)
        after = _run("after", after_settings, record.query, where, changes, embedder=embedder, store=store, llm=llm)
    finally:
        store.close()
    return ReplayResult(trace_id=record.trace_id, question=record.query, before=before, after=after, recorded={
        "answer": record.answer, "abstained": record.abstained, "confidence": record.confidence})


def _with_prompt(settings: Settings, ref: str) -> Settings:
    return settings.model_copy(update={"answer": settings.answer.model_copy(update={"prompt": ref})})


def _run(label: str, settings: Settings, question: str, where: list[Any], changes: tuple[str, ...], *,
         embedder: Any, store: Any, llm: Any) -> Run:
    answerer = record_retrieval(open_answerer(settings, embedder=embedder, store=store, llm=llm))
    started = time.perf_counter()
    with recording() as seen:
        answer = answerer.ask(question, where=where).result()
    latency_ms = (time.perf_counter() - started) * 1000
    r = settings.retrieve
    detail = answer_detail(answer, search=seen.result, template=answerer.prompt,
                           threshold=answerer.abstention.threshold,
                           retrieve={"mode": r.mode, "fusion": r.fusion, "dense_weight": r.dense_weight,
                                     "candidates": r.candidates, "rerank": r.rerank})
    c = answer.completion
    return Run(label=label, prompt=answer.prompt, changes=changes, text=answer.text, abstained=answer.abstained,
               confidence=float(answer.confidence), threshold=float(answerer.abstention.threshold),
               reason=answer.reason, detail=detail, latency_ms=latency_ms,
               tokens=(c.usage.input_tokens, c.usage.output_tokens) if c else (0, 0))


def _ranked(ids: list[str]) -> str:
    return "\n".join(f"{i}. {cid}" for i, cid in enumerate(ids, 1)) or "-"


def _excerpts(detail: dict[str, Any]) -> str:
    return "\n".join(f"[{s['n']}] {s['chunk_id']}" for s in detail.get("sources", [])) or "-"


def _num(value: Any) -> str:
    return "-" if value is None else f"{float(value):.3f}"
