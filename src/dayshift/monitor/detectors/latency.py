"""Latency SLOs: each route's p50 and p99 against its objectives ([monitor.slo]), graded by error-budget burn.

    objective   q of a route's requests finish within T (q = 0.5 for p50_ms, 0.99 for p99_ms)
    burn rate   share of the window's requests slower than T / (1 - q)
                1 spends the error budget exactly as fast as the SLO allows; 14.4 spends 2% of a
                30-day budget in an hour
    graded      p99: the rule's warn / alert, set for a 1-hour window, divided by sqrt(window hours)
                (at least 1); p50: median_warn / median_alert (its rate cannot exceed 2)
                and the last twelfth of the window (short_window, at least 5 minutes) must burn
                as fast too, so a burst that has ended does not page (multiwindow, as in the SRE workbook)

One finding per route with an objective, its status the worse of the two; the series is the p99 per
bucket, the baseline the same clock hours of the reference days. Requests that failed count as they
took (an error is usually fast; its own check is rejection_rate).
Left out: per-tenant objectives (a tenant is in the traces; the SLO is the service's).
"""

from __future__ import annotations

import math

import numpy as np

from dayshift.monitor.detectors import Context
from dayshift.monitor.findings import Finding, Status
from dayshift.monitor.frame import LABELS
from dayshift.monitor.rules import CheckRule, LatencyObjective

__all__ = ["detect"]

_RANK = {"no_data": -1, "ok": 0, "warn": 1, "alert": 2}


def detect(ctx: Context) -> list[Finding]:
    rule = ctx.rule("latency_slo")
    if not rule.enabled:
        return []
    return [_route(ctx, rule, objective) for objective in ctx.rules.latency_slo
            if objective.p50_ms is not None or objective.p99_ms is not None]


def _route(ctx: Context, rule: CheckRule, objective: LatencyObjective) -> Finding:
    cur = ctx.current
    rows = cur.route == LABELS.code(objective.route)
    latency, at = cur.latency_ms[rows], cur.at[rows]
    scope = {"route": objective.route}
    hours = (ctx.until_s - ctx.since_s) / 3600
    if len(latency) < rule.min_samples:
        return ctx.finding("latency", "latency_slo", "no_data", f"{objective.route}: {len(latency)} requests in "
                           f"{ctx.window_text()}, under the {rule.min_samples} the SLO check needs",
                           samples=len(latency), scope=scope)
    short = at >= ctx.until_s - max(300.0, (ctx.until_s - ctx.since_s) * rule.option("short_window", 1 / 12))
    graded: list[tuple[Status, str, dict[str, float]]] = []
    for quantile, target, warn, alert in _objectives(rule, objective, hours):
        over = latency > target
        burn = over.mean() / (1 - quantile)
        burn_short = over[short].mean() / (1 - quantile) if short.sum() >= 5 else burn
        status = _grade(min(burn, burn_short), warn=warn, alert=alert)
        name = "p50" if quantile == 0.5 else "p99"
        text = (f"{name} objective {_ms(target)}: {over.mean():.1%} of requests over it, burn rate {burn:.2f} "
                f"({burn_short:.2f} in the last part of the window; warn {warn:.2f}, alert {alert:.2f})")
        graded.append((status, text, {f"{name}_objective_ms": target, f"{name}_over_share": float(over.mean()),
                                      f"{name}_burn": float(burn), f"{name}_burn_recent": float(burn_short)}))
    status = max((g[0] for g in graded), key=_RANK.__getitem__)
    p50, p99 = np.percentile(latency, [50, 99])
    worst = max(graded, key=lambda g: _RANK[g[0]])[1]
    targets = ", ".join(f"{name} {_ms(t)}" for name, t in (("p50", objective.p50_ms), ("p99", objective.p99_ms))
                        if t is not None)
    verdict = worst if status != "ok" else f"within its objectives ({targets})"
    summary = f"{objective.route} p50 {_ms(p50)}, p99 {_ms(p99)} over {len(latency):,} requests; {verdict}"
    evidence: dict[str, object] = {"requests": len(latency), "p50_ms": float(p50), "p99_ms": float(p99)}
    for _, _, numbers in graded:
        evidence.update(numbers)
    series, baseline = _series(ctx, rows)
    started = _started(ctx, at, latency, objective) if status != "ok" else None
    return ctx.finding("latency", "latency_slo", status, summary, samples=len(latency), scope=scope,
                       evidence=evidence, series=series, baseline=baseline, started_at=started)


def _objectives(rule: CheckRule, objective: LatencyObjective, hours: float) -> list[tuple[float, float, float, float]]:
    """(quantile, target ms, warn burn, alert burn) for each objective the route has."""
    out = []
    if objective.p50_ms is not None:
        out.append((0.5, objective.p50_ms, rule.option("median_warn", 1.0), rule.option("median_alert", 1.5)))
    if objective.p99_ms is not None:
        scale = math.sqrt(max(hours, 1.0))
        out.append((0.99, objective.p99_ms, max(1.0, rule.warn / scale), max(1.0, rule.alert / scale)))
    return out


def _grade(burn: float, *, warn: float, alert: float) -> Status:
    if burn >= alert:
        return "alert"
    return "warn" if burn >= warn else "ok"


def _series(ctx: Context, rows: np.ndarray):  # type: ignore[no-untyped-def]
    """p99 per bucket in the window, and over the same buckets of the reference days."""
    cur, ref = ctx.current, ctx.reference
    n = ctx.n_buckets()
    now = _per_bucket(ctx.bucket(cur.at[rows]), cur.latency_ms[rows], n)
    ref_rows = ref.route == cur.route[rows][0] if rows.any() else np.zeros(len(ref), dtype=bool)
    before = _per_bucket(ctx.bucket(ref.at[ref_rows], ctx.period[ref_rows]), ref.latency_ms[ref_rows], n)
    return ctx.points(now), ctx.points(before)


def _per_bucket(bucket: np.ndarray, values: np.ndarray, n: int) -> np.ndarray:
    out = np.full(n, np.nan)
    for b in range(n):
        chosen = values[bucket == b]
        if len(chosen):
            out[b] = np.percentile(chosen, 99)
    return out


def _started(ctx: Context, at: np.ndarray, latency: np.ndarray, objective: LatencyObjective):  # type: ignore[no-untyped-def]
    """The first bucket whose p99 (or p50) was over its objective."""
    n = ctx.n_buckets()
    bucket = ctx.bucket(at)
    for b in range(n):
        chosen = latency[bucket == b]
        if not len(chosen):
            continue
        if (objective.p99_ms is not None and np.percentile(chosen, 99) > objective.p99_ms) or \
                (objective.p50_ms is not None and np.percentile(chosen, 50) > objective.p50_ms):
            return ctx.bucket_start(b)
    return None


def _ms(value: float) -> str:
    return f"{value / 1000:.1f} s" if value >= 1000 else f"{value:.0f} ms"
