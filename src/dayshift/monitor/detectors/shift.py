"""Distribution checks: has a score's distribution moved away from the same hours of the past days?

    Shift(check="confidence_shift", values=(current, reference) float arrays, NaN = none)
      --> PSI over the reference's deciles, gated by a two-sample KS test (p <= max_p)
      --> overall, and per tenant / route / prompt version / model; the worst decides

Each test's reference is re-weighted to the tenant mix of the rows under test
(detectors/rates.py explains why). PSI measures how far the distribution moved (scale-free, so it works for
cross-encoder logits and fused scores alike); KS says whether the move is
more than sampling noise. Both are needed: with thousands of values KS finds
harmless wiggles significant, and with dozens PSI is mostly noise.

Left out: direction (a shift up is reported like a shift down; the evidence
gives both means) and multivariate shifts.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from datetime import datetime

import numpy as np

from dayshift.monitor.detectors import Context, scope_text
from dayshift.monitor.detectors.stats import ks, psi
from dayshift.monitor.findings import Area, Finding, Status
from dayshift.monitor.frame import DIMS, LABELS
from dayshift.monitor.rules import CheckRule

__all__ = ["Shift", "shift_finding"]

_RANK = {"no_data": -1, "ok": 0, "warn": 1, "alert": 2}
_MAX_REFERENCE = 5000  # reference values per test (PSI and KS are as sure with 5,000 as with 50,000)


@dataclass(slots=True)
class Shift:
    area: Area
    check: str
    noun: str  # "answer confidence"
    values: tuple[np.ndarray, np.ndarray]  # (current, reference) float, NaN where a trace has none


@dataclass(slots=True)
class _Test:
    scope: dict[str, str]
    psi: float
    ks_d: float
    p: float
    n1: int
    n0: int
    status: Status
    rows: np.ndarray  # current rows of the group with a value
    reference_quantiles: dict[str, float]  # of the reference it was compared with, weighted


def shift_finding(ctx: Context, shift: Shift) -> Finding | None:
    rule = ctx.rule(shift.check)
    if not rule.enabled:
        return None
    v1, v0 = shift.values
    has1, has0 = np.isfinite(v1), np.isfinite(v0)
    n1, n0 = int(has1.sum()), int(has0.sum())
    if n1 < rule.min_samples or n0 < rule.min_samples:
        return ctx.finding(shift.area, shift.check, "no_data", f"{shift.noun}: {n1} values now, {n0} in the reference; "
                           f"{rule.min_samples} needed on each side to judge", samples=n1)
    tests = [_test(ctx, rule, {}, shift, has1, None)]
    for dim in DIMS:
        codes1, codes0 = getattr(ctx.current, dim), getattr(ctx.reference, dim)
        present = np.unique(codes1[has1])
        if len(present) < 2:
            continue
        for code in present[present != 0]:
            g1 = has1 & (codes1 == code)
            if g1.sum() >= rule.min_samples:
                tests.append(_test(ctx, rule, {dim: LABELS.label(code)}, shift, g1, has0 & (codes0 == code)))
    best = max(tests, key=lambda t: (_RANK[t.status], t.psi))
    where = f" ({scope_text(best.scope)})" if best.scope else ""
    now = v1[best.rows]
    summary = (f"{shift.noun}{where} moved: PSI {best.psi:.2f}, KS D {best.ks_d:.2f} (p {best.p:.1g}); median "
               f"{np.median(now):.3g} vs {best.reference_quantiles['p50']:.3g} on the same hours of the past "
               f"{len(ctx.periods)} days")
    evidence = {
        "psi": best.psi, "ks_d": best.ks_d, "ks_p": best.p, "values": best.n1, "reference_values": best.n0,
        "quantiles": _quantiles(now), "reference_quantiles": best.reference_quantiles,
        "overall_psi": tests[0].psi, "overall_ks_p": tests[0].p,
    }
    series, baseline = _series(ctx, v1, best.rows, v0, has0)
    started = _first_moved(ctx, v1, best.rows, v0[has0]) if best.status != "ok" else None
    return ctx.finding(shift.area, shift.check, best.status, summary, samples=n1, scope=dict(best.scope),
                       evidence=evidence, series=series, baseline=baseline, started_at=started)


def _test(ctx: Context, rule: CheckRule, scope: dict[str, str], shift: Shift, rows: np.ndarray,
          group0: np.ndarray | None) -> _Test:
    """PSI and KS of the current rows against the reference of the same tenants, re-weighted to their mix now.

    The reference is the group's own rows among those tenants when there are enough, else those
    tenants' rows, else everyone's: a group whose tenant mix changed is not mistaken for a shift.
    """
    v1, v0 = shift.values
    has0 = np.isfinite(v0)
    tenants1 = ctx.current.tenant[rows]
    mine = np.isin(ctx.reference.tenant, np.unique(tenants1))
    candidates = ([group0 & mine] if group0 is not None else []) + [has0 & mine]
    ref_rows = next((np.flatnonzero(c) for c in candidates
                     if c.sum() >= rule.min_samples and _covers(ctx.reference.tenant[c], tenants1)), np.flatnonzero(has0))
    if len(ref_rows) > _MAX_REFERENCE:  # evenly spaced in time: as good a reference, at a fraction of the cost
        ref_rows = ref_rows[np.linspace(0, len(ref_rows) - 1, _MAX_REFERENCE).astype(np.int64)]
    tenants0 = ctx.reference.tenant[ref_rows]
    size = int(max(tenants0.max(initial=0), tenants1.max(initial=0))) + 1
    now = np.bincount(tenants1, minlength=size) / len(tenants1)
    then = np.bincount(tenants0, minlength=size) / len(tenants0)
    weights = (now / np.where(then > 0, then, 1))[tenants0]
    if weights.sum() <= 0:  # none of today's tenants in the reference: compare with it as it is
        weights = np.ones(len(ref_rows))
    cur, ref = v1[rows], v0[ref_rows]
    index = psi(ref, cur, weights=weights)
    d, p = ks(ref, cur, weights=weights)
    return _Test(scope, index, d, p, len(cur), len(ref), rule.grade(index, effect=p <= rule.max_p), rows,
                 _quantiles(ref, weights))


def _covers(tenants0: np.ndarray, tenants1: np.ndarray, *, share: float = 0.9) -> bool:
    """Whether the reference rows hold the tenants of at least `share` of the current rows."""
    return bool(np.isin(tenants1, np.unique(tenants0)).mean() >= share)


def _quantiles(values: np.ndarray, weights: np.ndarray | None = None) -> dict[str, float]:
    if not len(values):
        return {"p10": np.nan, "p50": np.nan, "p90": np.nan}
    w = np.ones(len(values)) if weights is None else weights
    order = np.argsort(values)
    cumulative = np.cumsum(w[order]) / w.sum()
    at = np.searchsorted(cumulative, [0.1, 0.5, 0.9]).clip(0, len(values) - 1)
    q = values[order][at]
    return {"p10": float(q[0]), "p50": float(q[1]), "p90": float(q[2])}


def _series(ctx: Context, v1: np.ndarray, rows: np.ndarray, v0: np.ndarray, has0: np.ndarray) -> tuple[list, list]:
    """Per-bucket median now and in the reference."""
    n = ctx.n_buckets()
    now = _bucket_medians(ctx.bucket(ctx.current.at[rows]), v1[rows], n)
    then = _bucket_medians(ctx.bucket(ctx.reference.at[has0], ctx.period[has0]), v0[has0], n)
    return ctx.points(now), ctx.points(then)


def _bucket_medians(buckets: np.ndarray, values: np.ndarray, n: int) -> np.ndarray:
    order = np.argsort(buckets, kind="stable")
    buckets, values = buckets[order], values[order]
    edges = np.searchsorted(buckets, np.arange(n + 1))
    return np.array([np.median(values[a:b]) if b > a else np.nan for a, b in itertools.pairwise(edges)])


def _first_moved(ctx: Context, v1: np.ndarray, rows: np.ndarray, ref: np.ndarray) -> datetime | None:
    """The first bucket whose values alone already differ (KS p <= 0.01, at least 10 values)."""
    b1 = ctx.bucket(ctx.current.at[rows])
    values = v1[rows]
    for i in range(ctx.n_buckets()):
        these = values[b1 == i]
        if len(these) >= 10 and ks(ref, these)[1] <= 0.01:
            return ctx.bucket_start(i)
    return None
