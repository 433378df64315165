"""The trace's `detail`: everything the trace debugger shows about one answer, as plain JSON.

    answer (+ the SearchResult the answerer saw) --answer_detail--> {
        "retrieval": {mode, fusion, k, candidates, keyword_cutoff, dense_cutoff, fused_cutoff,
                      chunks: [{rank, chunk_id, doc_id, title, fused, keyword, keyword_rank, dense, dense_rank}]},
        "sources":   [{n, chunk_id, text}]            the excerpts the model was shown
        "messages":  [{role, content}]                the prompt as rendered ([] when no model call was made)
        "draft":     "..."                            the model's text, kept when withdrawn
        "support":   {score, focus, verbatim, best, unsupported_terms, checked_against, sentences?: [...]}
        "evidence":  {dense_top, coverage, ...}, "confidence", "threshold",
        "verdict":   {abstained, stage: retrieval | support | answered, reason}
    }

`RecordingSearcher` wraps an answerer's retriever so that the SearchResult of
the current request (its per-retriever scores) is kept for this, without
changing the answerer: `with recording() as seen: ...; seen.result`.

The support block is serialised field by field, so a richer Support (per-
sentence results) shows up here as it is added. Text lives only under the keys
in TEXT_KEYS; `text_slots` finds them so the flusher can redact or drop them
under trace.store_text, as it does the question and the answer.
Left out: the chunks' full text (the store has it; `dayshift traces why` reads it).
"""

from __future__ import annotations

import contextvars
import dataclasses
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from dayshift.answer.answerer import Answer
    from dayshift.answer.prompts import PromptTemplate
    from dayshift.retrieve.retriever import SearchResult
    from dayshift.types import Condition

__all__ = ["DETAIL_VERSION", "TEXT_KEYS", "RecordingSearcher", "answer_detail", "record_retrieval", "recording",
           "text_slots"]

DETAIL_VERSION = 1
TEXT_KEYS = frozenset({"text", "content", "draft", "unsupported_terms"})  # values that may hold user or document text
_SEEN: contextvars.ContextVar[_Seen | None] = contextvars.ContextVar("dayshift_seen_search", default=None)


@dataclasses.dataclass(slots=True)
class _Seen:
    result: SearchResult | None = None


@contextmanager
def recording() -> Iterator[_Seen]:
    """Within the block (this thread), a RecordingSearcher keeps the last SearchResult in the yielded value."""
    seen = _Seen()
    token = _SEEN.set(seen)
    try:
        yield seen
    finally:
        _SEEN.reset(token)


class RecordingSearcher:
    """A Searcher that passes every call through and keeps the result for an open `recording()` block."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner

    def search(self, query: str, *, k: int = 10, where: Sequence[Condition] = (), **kwargs: Any) -> SearchResult:
        result = self.inner.search(query, k=k, where=where, **kwargs)
        seen = _SEEN.get()
        if seen is not None:
            seen.result = result
        return result

    def __getattr__(self, name: str) -> Any:  # settings, store, embedder ... of the wrapped retriever
        return getattr(self.inner, name)


_WRAP_LOCK = threading.Lock()


def record_retrieval(answerer: Any) -> Any:
    """`answerer` with its retriever wrapped in a RecordingSearcher (once); returns the answerer."""
    with _WRAP_LOCK:
        if not isinstance(answerer.retriever, RecordingSearcher):
            answerer.retriever = RecordingSearcher(answerer.retriever)
    return answerer


# -- building -------------------------------------------------------------------------------------


def answer_detail(answer: Answer, *, search: SearchResult | None, template: PromptTemplate | None,
                  threshold: float, retrieve: dict[str, Any] | None = None) -> dict[str, Any]:
    """The debugger's view of `answer` as JSON-ready data (see the module docstring)."""
    called = answer.completion is not None or bool(answer.draft)
    messages: list[dict[str, str]] = []
    if called and template is not None:
        try:
            messages = [{"role": m.role, "content": m.content}
                        for m in template.render(question=answer.question, sources=list(answer.sources))]
        except Exception:  # noqa: BLE001 - a debugging aid must never fail the request
            messages = []
    stage = "answered" if not answer.abstained else ("support" if called else "retrieval")
    return {
        "version": DETAIL_VERSION,
        "retrieval": _retrieval(answer, search, retrieve or {}),
        "sources": [{"n": s.n, "chunk_id": s.chunk.chunk_id, "text": s.text} for s in answer.sources],
        "messages": messages,
        "draft": answer.draft,
        "support": _plain(answer.support) if answer.support is not None else None,
        "evidence": _plain(answer.evidence),
        "confidence": round(float(answer.confidence), 6),
        "threshold": round(float(threshold), 6),
        "verdict": {"abstained": answer.abstained, "supported": answer.supported, "stage": stage,
                    "reason": answer.reason},
    }


def _retrieval(answer: Answer, search: SearchResult | None, retrieve: dict[str, Any]) -> dict[str, Any]:
    raw = search.raw_scores if search is not None else {}
    ranks = {name: _ranks(scores) for name, scores in raw.items()}
    chunks = []
    for rank, hit in enumerate(answer.retrieved, 1):
        cid = hit.chunk.chunk_id
        row: dict[str, Any] = {"rank": rank, "chunk_id": cid, "doc_id": hit.chunk.doc_id, "title": hit.chunk.title,
                               "section": list(hit.chunk.section), "fused": round(float(hit.score), 6),
                               "stage": hit.source}
        for name in ("keyword", "dense"):
            score = raw.get(name, {}).get(cid)
            row[name] = None if score is None else round(float(score), 6)
            row[f"{name}_rank"] = ranks.get(name, {}).get(cid)
        chunks.append(row)
    out: dict[str, Any] = dict(retrieve)
    out.update(chunks=chunks, k=len(answer.retrieved))
    for name, scores in raw.items():
        out[f"{name}_candidates"] = len(scores)
        out[f"{name}_cutoff"] = round(float(min(scores.values())), 6) if scores else None
    out["fused_cutoff"] = chunks[-1]["fused"] if chunks else None
    return out


def _ranks(scores: dict[str, float]) -> dict[str, int]:
    return {cid: i for i, cid in enumerate(sorted(scores, key=lambda c: -scores[c]), 1)}


def _plain(value: Any) -> Any:
    """Dataclasses (Support, Evidence, per-sentence results) as dicts; a Source as its number and chunk."""
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        return round(value, 6)
    if hasattr(value, "chunk") and hasattr(value, "n"):  # a Source: who it is, not its text again
        return {"n": value.n, "chunk_id": value.chunk.chunk_id}
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [_plain(v) for v in value]
    return str(value)


# -- text for storage -------------------------------------------------------------------------------


def text_slots(detail: Any) -> list[tuple[Any, Any]]:
    """(container, key) of every text value in `detail`: strings, or lists of strings, under TEXT_KEYS."""
    slots: list[tuple[Any, Any]] = []

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            for key, value in node.items():
                if key in TEXT_KEYS and (isinstance(value, str) or
                                         (isinstance(value, list) and all(isinstance(v, str) for v in value))):
                    slots.append((node, key))
                else:
                    walk(value)
        elif isinstance(node, list):
            for item in node:
                walk(item)

    walk(detail)
    return slots
