"""Slow slides: is a share of bad outcomes creeping up, too slowly for any one window's rate test?

    Slide(check="feedback_slide", noun="negative-feedback rate", bad=..., of=...)
      --> the window's outcomes in time order, each against its tenant's rate on the same hours of the past days
      --> a one-sided Bernoulli CUSUM (stats.bernoulli_cusum), overall and per tenant
      --> the first alarm decides; where the statistic last stood at 0 is when the slide began

A rate test weighs the whole window alike, so a rise that began mid-window
is diluted by the hours before it, and a rise that is still small is lost in
the noise of any one window. The CUSUM keeps adding the evidence of every
outcome since it last stood at 0, and drops the rest: it reaches its
threshold once the rise has gone on long enough, whatever its slope. After
an alarm it restarts from 0, so it alarms again only on new evidence. The
expected rate is per tenant (a change of tenant mix is not a slide), and the
overdispersion measured in the reference (per day and tenant) scales every
increment down, as it widens the rate tests.

Left out: slides downwards (good news), and memory beyond the window (the
watch's day-long window is enough to catch a slide within a day; a longer
`dayshift monitor report --since` window looks further back).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

import numpy as np

from dayshift.monitor.detectors import Context, scope_text
from dayshift.monitor.detectors.stats import Cusum, bernoulli_cusum
from dayshift.monitor.findings import Area, Finding, Point, Status
from dayshift.monitor.frame import LABELS
from dayshift.monitor.rules import CheckRule

__all__ = ["Slide", "slide_finding"]

_RANK = {"no_data": -1, "ok": 0, "warn": 1, "alert": 2}


@dataclass(slots=True)
class Slide:
    area: Area
    check: str
    noun: str  # "negative-feedback rate"
    bad: tuple[np.ndarray, np.ndarray]  # (current, reference) bool: the outcome counted
    of: tuple[np.ndarray, np.ndarray]  # (current, reference) bool: the outcomes it is a share of


@dataclass(slots=True)
class _Test:
    scope: dict[str, str]
    rows: np.ndarray  # (m,) int: current rows tested, in time order
    cusum: Cusum
    status: Status

    @property
    def first_alarm(self) -> int | None:
        return int(self.cusum.alarms[0]) if len(self.cusum.alarms) else None

    def order(self) -> tuple[int, float, float]:
        """Worst first: the status, then the earliest alarm, then the highest statistic."""
        alarm = self.first_alarm
        return (_RANK[self.status], -alarm if alarm is not None else 0.0, self.cusum.peak)


def slide_finding(ctx: Context, slide: Slide) -> Finding | None:
    rule = ctx.rule(slide.check)
    if not rule.enabled:
        return None
    (bad1, _), (of1, of0) = slide.bad, slide.of
    n1, n0 = int(of1.sum()), int(of0.sum())
    if n1 < rule.min_samples or n0 < rule.min_samples:
        return ctx.finding(slide.area, slide.check, "no_data", f"{slide.noun} trend: {n1} outcomes now, {n0} in the "
                           f"reference; {rule.min_samples} needed on each side to judge", samples=n1)
    usual = _tenant_rates(ctx, slide, min_samples=rule.min_samples)  # (tenants,) the reference rate of each
    expected = usual[ctx.current.tenant]  # (len(current),)
    phi = _dispersion(ctx, slide, usual)
    odds_ratio = rule.option("odds_ratio", 1.5)
    tests = [_test(rule, {}, np.flatnonzero(of1), bad1, expected, odds_ratio, phi)]
    tenants = np.unique(ctx.current.tenant[of1])
    if len(tenants) > 1:
        for code in tenants[tenants != 0]:
            rows = np.flatnonzero(of1 & (ctx.current.tenant == code))
            if len(rows) >= rule.min_samples:
                tests.append(_test(rule, {"tenant": LABELS.label(code)}, rows, bad1, expected, odds_ratio, phi))
    best = max(tests, key=_Test.order)
    return _finding(ctx, rule, slide, best, expected, n0=n0, phi=phi, odds_ratio=odds_ratio)


def _test(rule: CheckRule, scope: dict[str, str], rows: np.ndarray, bad: np.ndarray, expected: np.ndarray,
          odds_ratio: float, phi: float) -> _Test:
    cusum = bernoulli_cusum(bad[rows], expected[rows], odds_ratio=odds_ratio, threshold=rule.alert, scale=phi)
    return _Test(scope, rows, cusum, rule.grade(cusum.peak))


def _tenant_rates(ctx: Context, slide: Slide, *, min_samples: int) -> np.ndarray:
    """Each tenant's rate in the reference, by tenant code; everyone's for a tenant seen too little there."""
    (_, bad0), (_, of0) = slide.bad, slide.of
    size = int(max(ctx.reference.tenant.max(initial=0), ctx.current.tenant.max(initial=0))) + 1
    tenants0 = ctx.reference.tenant[of0]
    x = np.bincount(tenants0, weights=bad0[of0], minlength=size)
    n = np.bincount(tenants0, minlength=size).astype(np.float64)
    return np.where(n >= min_samples, x / np.maximum(n, 1), float(x.sum() / n.sum()))


def _dispersion(ctx: Context, slide: Slide, usual: np.ndarray, *, min_cell: int = 20, cap: float = 10.0) -> float:
    """How much more the reference's (day, tenant) counts vary than binomially around each tenant's rate.

    Pearson chi-square / degrees of freedom over the cells with at least min_cell outcomes, in [1, cap].
    Cells by tenant too: daily pooled rates also vary with the tenant mix (weekends), which is no
    overdispersion here because every outcome is compared with its own tenant's rate.
    """
    (_, bad0), (_, of0) = slide.bad, slide.of
    size = len(usual)
    cell = ctx.period[of0] * size + ctx.reference.tenant[of0]
    x = np.bincount(cell, weights=bad0[of0])
    n = np.bincount(cell).astype(np.float64)
    p = usual[np.arange(len(n)) % size]
    keep = (n >= min_cell) & (p > 0) & (p < 1)
    df = int(keep.sum()) - len(np.unique(np.flatnonzero(keep) % size))
    if df < 2:
        return 1.0
    x, n, p = x[keep], n[keep], p[keep]
    chi2 = float((((x - n * p) ** 2) / (n * p * (1 - p))).sum())
    return min(max(chi2 / df, 1.0), cap)


def _finding(ctx: Context, rule: CheckRule, slide: Slide, test: _Test, expected: np.ndarray, *, n0: int,
             phi: float, odds_ratio: float) -> Finding:
    cur, cusum = ctx.current, test.cusum
    alarm = test.first_alarm
    # Where the slide began: before the first alarm, or before the highest point when there was none.
    start = int(cusum.starts[0]) if alarm is not None else _last_zero_before(cusum.path, int(np.argmax(cusum.path)))
    since = test.rows[start:] if test.status != "ok" else test.rows
    bad = slide.bad[0]
    rate, usual = float(bad[since].mean()), float(expected[since].mean())
    started = _time(cur.at[test.rows[start]]) if test.status != "ok" else None
    where = f" ({scope_text(test.scope)})" if test.scope else ""
    summary = f"{slide.noun}{where} {rate:.1%} against a usual {usual:.1%} over {len(since)} outcomes"
    if started is not None:
        summary += f" since {started:%Y-%m-%d %H:%M} UTC"
    if alarm is not None:
        summary += f"; the CUSUM reached {rule.alert:g} at {_time(cur.at[test.rows[alarm]]):%Y-%m-%d %H:%M} UTC"
    else:
        summary += f"; CUSUM {cusum.peak:.1f} of {rule.alert:g}"
    evidence = {
        "statistic": cusum.peak, "threshold": rule.alert, "alarms": len(cusum.alarms),
        "first_alarm_at": _time(cur.at[test.rows[alarm]]).isoformat() if alarm is not None else None,
        "rate_since_start": rate, "expected_rate_since_start": usual, "outcomes_since_start": len(since),
        "outcomes": len(test.rows), "reference_outcomes": n0, "odds_ratio": odds_ratio, "dispersion": phi,
    }
    series, baseline = _series(ctx, test, threshold=rule.alert)
    return ctx.finding(slide.area, slide.check, test.status, summary, samples=len(test.rows), scope=test.scope,
                       evidence=evidence, series=series, baseline=baseline, started_at=started)


def _last_zero_before(path: np.ndarray, index: int) -> int:
    zeros = np.flatnonzero(path[:index] <= 0.0)
    return int(zeros[-1]) + 1 if len(zeros) else 0


def _series(ctx: Context, test: _Test, *, threshold: float) -> tuple[list[Point], list[Point]]:
    """The statistic's highest point per bucket, and the alert threshold beside it."""
    n = ctx.n_buckets()
    buckets = np.clip(ctx.bucket(ctx.current.at[test.rows]), 0, n - 1)
    high = np.full(n, np.nan)
    np.fmax.at(high, buckets, test.cusum.path)
    return ctx.points(high), ctx.points(np.full(n, threshold))


def _time(at: float) -> datetime:
    return datetime.fromtimestamp(float(at), UTC)
