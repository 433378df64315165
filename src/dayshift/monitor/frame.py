"""Traces as columns: the one shape every detector reads.

    store.scan(since, until) --build_frame--> Frame (numpy columns, one row per trace, oldest first)

    frame.at          (n,) float64  epoch seconds
    frame.tenant      (n,) int32    codes; LABELS.label(code) -> "acme" ("" when unknown)
    frame.confidence  (n,) float64  NaN when the trace has none
    frame.rating      (n,) int8     -1 no feedback (as of `now`), 0 up, 1 down
    frame.cited       (n,) int8     -1 not a given answer, 0 no [n] marker, 1 cited
    frame.stale       (n,) int8     -1 retrieved nothing, 0 current, 1 some chunk's document
                                    version is older than one already served
    frame.latency_ms  (n,) float64  the whole request

A document version is a content hash, so "older" is learned from the traces
themselves: `VersionHistory` remembers when each (tenant, doc, version) was
first retrieved, and a chunk is stale when a different version of its
document was first seen later, but before this trace.

Left out: anything a detector does not read (answers' text beyond their
citations, error messages, request params other than an index version).
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, fields
from datetime import datetime
from typing import Any

import numpy as np

from dayshift.trace.store import StoredTrace

__all__ = ["DIMS", "LABELS", "Frame", "Labels", "VersionHistory", "build_frame"]

DIMS = ("tenant", "route", "prompt_version", "model")  # the columns a finding can be scoped by
_CITATION = re.compile(r"\[\d+(?:\s*[-,]\s*\d+)*\]")


class Labels:
    """Strings <-> small ints, so group-bys are integer bincounts. Code 0 is "" (none)."""

    def __init__(self) -> None:
        self._codes: dict[str, int] = {"": 0}
        self._labels: list[str] = [""]
        self._lock = threading.Lock()

    def code(self, label: str | None) -> int:
        if not label:
            return 0
        found = self._codes.get(label)
        if found is None:
            with self._lock:
                found = self._codes.setdefault(label, len(self._labels))
                if found == len(self._labels):
                    self._labels.append(label)
        return found

    def label(self, code: int) -> str:
        return self._labels[int(code)]


LABELS = Labels()  # process-wide: frames built at different times share codes


@dataclass(slots=True)
class Frame:
    at: np.ndarray
    tenant: np.ndarray
    route: np.ndarray
    prompt_version: np.ndarray  # "answer@3"
    model: np.ndarray
    index_version: np.ndarray  # params["index_version"], when the service records one
    ok: np.ndarray  # status == "ok"
    answered: np.ndarray  # abstained is not None: the request went through the answerer
    abstained: np.ndarray
    confidence: np.ndarray
    retries: np.ndarray
    input_tokens: np.ndarray
    output_tokens: np.ndarray
    cost_usd: np.ndarray
    rating: np.ndarray
    top_score: np.ndarray
    n_retrieved: np.ndarray
    score_spread: np.ndarray  # max - min of the retrieved scores; NaN with fewer than two
    rerank_ms: np.ndarray  # NaN: no rerank stage
    cited: np.ndarray
    stale: np.ndarray
    newest_doc: np.ndarray  # code of "doc@version": of the versions this trace retrieved, the last first seen
    newest_doc_at: np.ndarray  # when that version was first seen (epoch seconds; NaN: retrieved nothing)
    latency_ms: np.ndarray  # the whole request, as the service measured it
    query: np.ndarray  # object: str, or None when text is not stored

    def __len__(self) -> int:
        return len(self.at)

    def take(self, rows: np.ndarray) -> Frame:
        """The rows selected by a boolean mask or an index array."""
        return Frame(*(getattr(self, name)[rows] for name in _COLUMNS))

    def between(self, start_s: float, end_s: float) -> Frame:
        """Rows with start_s <= at < end_s, as views (no copy): the frame is in time order."""
        lo, hi = np.searchsorted(self.at, [start_s, end_s], side="left")
        return Frame(*(getattr(self, name)[lo:hi] for name in _COLUMNS))

    @property
    def tokens(self) -> np.ndarray:
        return self.input_tokens + self.output_tokens

    @classmethod
    def concat(cls, frames: Sequence[Frame]) -> Frame:
        if not frames:
            return build_frame([], now=None)
        return cls(*(np.concatenate([getattr(f, name) for f in frames]) for name in _COLUMNS))


_COLUMNS = tuple(f.name for f in fields(Frame))


class VersionHistory:
    """When each document version was first retrieved, per (tenant, doc_id): what "newer" means."""

    def __init__(self) -> None:
        self._first_seen: dict[tuple[str, str], dict[str, float]] = {}

    def observe(self, tenant: str, doc_id: str, version: str, at: float) -> float:
        """Record a retrieval; returns when this version was first seen."""
        versions = self._first_seen.setdefault((tenant, doc_id), {})
        first = versions.get(version)
        if first is None or at < first:
            versions[version] = first = at
        return first

    def is_stale(self, tenant: str, doc_id: str, version: str, at: float) -> bool:
        """Whether another version of the document was first seen after this one and at or before `at`."""
        versions = self._first_seen.get((tenant, doc_id), {})
        mine = versions.get(version, at)
        return any(mine < first <= at for v, first in versions.items() if v != version)


def build_frame(traces: Iterable[StoredTrace], *, now: datetime | None, history: VersionHistory | None = None) -> Frame:
    """Columns of `traces` (oldest first). Feedback given after `now` is not yet known; None: all of it."""
    history = history if history is not None else VersionHistory()
    rows = [_row(t, now=now, history=history) for t in traces]
    columns = list(zip(*rows)) if rows else [()] * len(_COLUMNS)
    return Frame(*(np.array(col, dtype=_DTYPES[name]) for col, name in zip(columns, _COLUMNS)))


_CODES = ("tenant", "route", "prompt_version", "model", "index_version", "newest_doc")
_DTYPES: dict[str, Any] = {
    **{name: np.int32 for name in (*_CODES, "retries", "n_retrieved")},
    **{name: np.float64 for name in ("at", "confidence", "cost_usd", "top_score", "score_spread", "rerank_ms",
                                     "newest_doc_at", "latency_ms")},
    **{name: bool for name in ("ok", "answered", "abstained")},
    **{name: np.int64 for name in ("input_tokens", "output_tokens")},
    **{name: np.int8 for name in ("rating", "cited", "stale")},
    "query": object,
}


def _row(trace: StoredTrace, *, now: datetime | None, history: VersionHistory) -> tuple[Any, ...]:
    r = trace.record
    at = r.started_at.timestamp()
    rating = -1
    for fb in trace.feedback:  # oldest first: the latest known by `now` counts
        if now is None or fb.created_at <= now:
            rating = 1 if fb.rating == "down" else 0
    scores = [c.score for c in r.retrieved if c.score is not None]
    stale, newest, newest_at = -1, "", -1.0
    if r.retrieved:
        stale = 0
        for c in r.retrieved:
            first = history.observe(r.tenant, c.doc_id, c.doc_version, at)
            if first > newest_at:
                newest, newest_at = f"{c.doc_id}@{c.doc_version[:12]}", first
        stale = int(any(history.is_stale(r.tenant, c.doc_id, c.doc_version, at) for c in r.retrieved))
    given = r.status == "ok" and r.abstained is False and bool(r.answer)
    cited = (1 if _CITATION.search(r.answer or "") else 0) if given else -1
    rerank = r.stages_ms.get("rerank")
    prompt = f"{r.prompt_name or 'prompt'}@{r.prompt_version}" if r.prompt_version else ""
    return (
        at, LABELS.code(r.tenant), LABELS.code(r.route), LABELS.code(prompt), LABELS.code(r.model),
        LABELS.code(str(r.params.get("index_version") or "")), r.status == "ok", r.abstained is not None,
        bool(r.abstained), np.nan if r.confidence is None else r.confidence, r.retries, r.input_tokens,
        r.output_tokens, r.cost_usd, rating, max(scores) if scores else np.nan, len(r.retrieved),
        (max(scores) - min(scores)) if len(scores) > 1 else np.nan, np.nan if rerank is None else float(rerank),
        cited, stale, LABELS.code(newest), newest_at if newest else np.nan, float(r.latency_ms), r.query,
    )
