"""Detectors: one module per area, each a function Context -> list[Finding].

    cost       cost_spike, tokens_per_request, budget_burn
    quality    negative_feedback, feedback_slide, abstention_rate, rejection_rate, retry_rate,
               confidence_shift
    drift      query_drift (new topics, clustered, with example questions)
    retrieval  top_score_shift, low_evidence, empty_results, citation_coverage, stale_answers,
               reranker_silent
    latency    latency_slo (p50 and p99 per route against [monitor.slo], burn-rate style)

A `Context` holds the window under test (`current`) and its seasonal
reference: the same window on each of the previous days (`reference`, with
`period[i]` = how many steps back row i is). Comparing like hours with like
hours is what keeps the diurnal cycle and the daily traffic mix from raising
alarms. This module also holds what every detector shares: time buckets for
the plotted series, the live config a finding carries, and the runbooks.

Left out: detectors as plugins (they are few, and they share the Context).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

import numpy as np

from dayshift.monitor.findings import Area, Finding, Point, Status
from dayshift.monitor.frame import DIMS, LABELS, Frame
from dayshift.monitor.rules import CheckRule, Rules

__all__ = ["RUNBOOKS", "Context", "Detector", "EmbedQueries", "detectors"]

EmbedQueries = Callable[[Sequence[str]], np.ndarray]  # texts -> (n, dim) unit vectors
Detector = Callable[["Context"], list[Finding]]

RUNBOOKS = {
    "cost_spike": "docs/runbooks/cost-spike.md",
    "tokens_per_request": "docs/runbooks/cost-spike.md",
    "budget_burn": "docs/runbooks/budget-burn.md",
    "negative_feedback": "docs/runbooks/negative-feedback.md",
    "feedback_slide": "docs/runbooks/feedback-slide.md",
    "abstention_rate": "docs/runbooks/abstention-rate.md",
    "rejection_rate": "docs/runbooks/error-rate.md",
    "retry_rate": "docs/runbooks/retry-rate.md",
    "confidence_shift": "docs/runbooks/confidence-shift.md",
    "query_drift": "docs/runbooks/query-drift.md",
    "top_score_shift": "docs/runbooks/retrieval-low-evidence.md",
    "low_evidence": "docs/runbooks/retrieval-low-evidence.md",
    "empty_results": "docs/runbooks/retrieval-low-evidence.md",
    "citation_coverage": "docs/runbooks/citation-coverage.md",
    "stale_answers": "docs/runbooks/stale-documents.md",
    "reranker_silent": "docs/runbooks/reranker-silent.md",
    "latency_slo": "docs/runbooks/latency-slo.md",
}
_BUCKETS_S = (60, 300, 900, 1800, 3600, 3 * 3600, 6 * 3600, 86400)
_MAX_BUCKETS = 48


@dataclass(slots=True)
class Context:
    since: datetime
    until: datetime
    current: Frame
    reference: Frame
    period: np.ndarray  # (len(reference),) int: 1 = the window one step back, 2 = two steps ...
    step_s: float  # seconds between the window and its first reference copy (a day, or whole days)
    rules: Rules
    embed_queries: EmbedQueries | None = None

    @property
    def since_s(self) -> float:
        return self.since.timestamp()

    @property
    def until_s(self) -> float:
        return self.until.timestamp()

    @property
    def periods(self) -> list[int]:
        """The reference windows that hold any traces."""
        return [int(p) for p in np.unique(self.period)]

    @property
    def bucket_s(self) -> int:
        length = max(self.until_s - self.since_s, 1.0)
        return next((b for b in _BUCKETS_S if length / b <= _MAX_BUCKETS), _BUCKETS_S[-1])

    def rule(self, check: str) -> CheckRule:
        return self.rules.check(check)

    def window_text(self) -> str:
        hours = (self.until_s - self.since_s) / 3600
        return f"{hours:g} h" if hours < 48 else f"{hours / 24:g} days"

    def bucket(self, at: np.ndarray, period: np.ndarray | None = None) -> np.ndarray:
        """The series bucket of each time (reference times are first moved forward to the window)."""
        shifted = at if period is None else at + period * self.step_s
        return ((shifted - self.since_s) // self.bucket_s).astype(np.int64)

    def points(self, values: np.ndarray) -> list[Point]:
        """One point per bucket; buckets without a value (NaN: no traffic) are left out."""
        return [Point(self.bucket_start(i), float(v)) for i, v in enumerate(values) if np.isfinite(v)]

    def n_buckets(self) -> int:
        return max(1, math.ceil((self.until_s - self.since_s) / self.bucket_s))

    def bucket_start(self, index: int) -> datetime:
        return datetime.fromtimestamp(self.since_s + index * self.bucket_s, UTC)

    def config(self, scope: dict[str, str]) -> dict[str, str]:
        """What was live: the latest prompt version, model and index version seen in the window (in scope).

        Each tenant has an index of its own, so a scope of several tenants whose latest index versions
        differ gets them all: "acme sync-23@..., globex sync-21@..." (the first five, and how many more).
        """
        f = self.current
        rows = np.ones(len(f), dtype=bool)
        for dim in DIMS:
            if dim in scope:
                rows &= getattr(f, dim) == LABELS.code(scope[dim])
        out: dict[str, str] = {}
        for name in ("prompt_version", "model"):
            codes = getattr(f, name)[rows]
            codes = codes[codes != 0]
            if len(codes):
                out[name] = LABELS.label(codes[-1])
        index = _index_versions(f.tenant[rows], f.index_version[rows])
        if index:
            out["index_version"] = index
        else:
            at = f.newest_doc_at[rows]
            if np.isfinite(at).any():
                out["index_version"] = "newest document served: " + LABELS.label(f.newest_doc[rows][np.nanargmax(at)])
        return out

    def finding(self, area: Area, check: str, status: Status, summary: str, *, samples: int,
                scope: dict[str, str] | None = None, evidence: dict[str, object] | None = None,
                series: list[Point] | None = None, baseline: list[Point] | None = None,
                started_at: datetime | None = None) -> Finding:
        scope = scope or {}
        return Finding(
            area=area, check=check, status=status, summary=summary, runbook=RUNBOOKS[check], scope=scope,
            evidence=evidence or {}, config=self.config(scope), started_at=started_at if status != "ok" else None,
            detected_at=self.until, series=series or [], baseline=baseline or [], samples=samples,
        )


def _index_versions(tenants: np.ndarray, versions: np.ndarray, *, shown: int = 5) -> str:
    """The latest index version of each tenant (rows in time order), as one value when they agree."""
    have = versions != 0
    if not have.any():
        return ""
    # np.unique's first index in the reversed rows is each tenant's last row.
    tenant_codes, last = np.unique(tenants[have][::-1], return_index=True)
    latest = {LABELS.label(t): LABELS.label(v) for t, v in zip(tenant_codes, versions[have][::-1][last])}
    if len(set(latest.values())) == 1:
        return next(iter(latest.values()))
    named = [f"{tenant or '(no tenant)'} {version}" for tenant, version in sorted(latest.items())]
    more = f" and {len(named) - shown} more" if len(named) > shown else ""
    return ", ".join(named[:shown]) + more


def scope_text(scope: dict[str, str]) -> str:
    return ", ".join(f"{k} {v}" for k, v in scope.items())


def detectors() -> list[Detector]:
    """Every detector, in report order."""
    from dayshift.monitor.detectors import cost, drift, latency, quality, retrieval

    return [cost.detect, quality.detect, drift.detect, retrieval.detect, latency.detect]
