"""Rate checks: is a share of bad outcomes higher than on the same hours of the past days, and where?

    Rate(check="abstention_rate", noun="abstention rate", bad=abstained, of=answered ...)
      --> one two-proportion z-test overall, one per tenant / route / prompt version / model
          (against what the group's tenants usually show: see _Baseline)
      --> the worst test decides the status; its group is the finding's scope
      --> attribution: the group whose excess count explains most of the overall excess
      --> a prompt version first seen in this window, to which the excess belongs, is named

Each group's baseline is standardised by tenant: the rate its tenants usually
show, weighted by their share of the group now, so a group whose tenant mix
changed is not mistaken for a group that got worse. Overdispersion (counts
that vary more from day to day than a binomial would) is measured across the
reference days and widens every test; with few events the exact test decides.
Thresholds depend on the window's length (CheckRule.grade_z).

Left out: two-sided tests (a rate falling is good news for every check here).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import UTC, datetime

import numpy as np

from dayshift.monitor.detectors import Context, scope_text
from dayshift.monitor.detectors.stats import dispersion, ewma, proportion_z
from dayshift.monitor.findings import Area, Finding, Status
from dayshift.monitor.frame import DIMS, LABELS, Frame
from dayshift.monitor.rules import CheckRule

__all__ = ["Rate", "rate_finding"]

_RANK = {"no_data": -1, "ok": 0, "warn": 1, "alert": 2}
_ATTRIBUTION_SHARE = 0.6  # a group "explains" an excess when it holds at least this share of it


@dataclass(slots=True)
class Rate:
    area: Area
    check: str
    noun: str  # "abstention rate"
    bad: tuple[np.ndarray, np.ndarray]  # (current, reference) bool: the outcome counted
    of: tuple[np.ndarray, np.ndarray]  # (current, reference) bool: the requests it is a share of
    evidence: dict[str, object] = field(default_factory=dict)  # extra numbers for the finding


@dataclass(slots=True)
class _Test:
    scope: dict[str, str]
    x1: int
    n1: int
    x0: float
    n0: float
    z: float
    status: Status
    rows: np.ndarray  # current rows of this group (within `of`)

    @property
    def rate(self) -> float:
        return self.x1 / self.n1

    @property
    def baseline(self) -> float:
        return self.x0 / self.n0


def rate_finding(ctx: Context, rate: Rate) -> Finding | None:
    rule = ctx.rule(rate.check)
    if not rule.enabled:
        return None
    (_, bad0), (of1, of0) = rate.bad, rate.of
    n1, n0 = int(of1.sum()), int(of0.sum())
    if n1 < rule.min_samples or n0 < rule.min_samples:
        return ctx.finding(rate.area, rate.check, "no_data", f"{rate.noun}: {n1} requests now, {n0} in the reference; "
                           f"{rule.min_samples} needed on each side to judge", samples=n1)
    phi = dispersion(*_per_period(ctx, bad0 & of0, of0))
    usual = _Baseline(ctx, rate, min_samples=rule.min_samples)
    tests = _tests(ctx, rule, rate, usual, phi)
    best = max(tests, key=lambda t: (_RANK[t.status], t.z if not math.isnan(t.z) else -math.inf))
    overall = tests[0]
    scope = dict(best.scope)
    attribution = _attribution(ctx, rate, usual, overall)
    if best is overall and best.status != "ok":
        scope.update({dim: a["group"] for dim, a in attribution.items() if a["share"] >= _ATTRIBUTION_SHARE})
    change = _prompt_change(ctx, rate, scope)
    series, baseline, first_bad = _series(ctx, rule, rate, best)
    started = change["first_seen"] if change else first_bad
    where = f" ({scope_text(scope)})" if scope else ""
    summary = (f"{rate.noun}{where} {best.rate:.1%} vs {best.baseline:.1%} on the same hours of the past "
               f"{len(ctx.periods)} days, z {best.z:.1f}")
    if change:
        summary += f"; prompt {change['version']} first seen {change['first_seen']:%Y-%m-%d %H:%M} UTC"
    evidence = {
        "rate": best.rate, "baseline_rate": best.baseline, "z": best.z, "count": best.x1, "requests": best.n1,
        "reference_requests": int(best.n0), "dispersion": phi, "overall_rate": overall.rate,
        "overall_baseline_rate": overall.baseline, "overall_z": overall.z, "attribution": attribution,
        **({"prompt_change": {**change, "first_seen": change["first_seen"].isoformat()}} if change else {}),
        **rate.evidence,
    }
    return ctx.finding(rate.area, rate.check, best.status, summary, samples=n1, scope=scope, evidence=evidence,
                       series=series, baseline=baseline, started_at=started)


class _Baseline:
    """The reference rate a set of current requests should show: each tenant's own rate in the reference
    (within the group under test when it has enough requests there), weighted by the tenant's share of the
    requests now. A group whose tenant mix changed (a prompt version moved to new tenants, a batch job on
    another model) is then compared with what those same tenants usually see."""

    def __init__(self, ctx: Context, rate: Rate, *, min_samples: int) -> None:
        self.ctx, self.rate, self.min = ctx, rate, min_samples
        self.size = int(max(ctx.reference.tenant.max(initial=0), ctx.current.tenant.max(initial=0))) + 1
        bad0, of0 = rate.bad[1], rate.of[1]
        self.x_t, self.n_t = self._counts(of0)
        self.p_all, self.n_all = float((bad0 & of0).sum() / of0.sum()), float(of0.sum())

    def _counts(self, rows0: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        tenants = self.ctx.reference.tenant[rows0]
        x = np.bincount(tenants, weights=self.rate.bad[1][rows0], minlength=self.size)
        return x, np.bincount(tenants, minlength=self.size).astype(np.float64)

    def expected(self, rows1: np.ndarray, rows0: np.ndarray | None = None) -> tuple[float, float]:
        """(expected rate, reference requests behind it) for the current rows; rows0: the group's reference."""
        now = np.bincount(self.ctx.current.tenant[rows1], minlength=self.size)
        gx, gn = self._counts(rows0 & self.rate.of[1]) if rows0 is not None else (self.x_t, self.n_t)
        share = now / max(now.sum(), 1)
        p = np.where(gn >= self.min, gx / np.maximum(gn, 1),
                     np.where(self.n_t >= self.min, self.x_t / np.maximum(self.n_t, 1), self.p_all))
        n = np.where(gn >= self.min, gn, np.where(self.n_t >= self.min, self.n_t, self.n_all))
        present = now > 0
        return float((share * p)[present].sum()), float(n[present].sum())


def _tests(ctx: Context, rule: CheckRule, rate: Rate, usual: _Baseline, phi: float) -> list[_Test]:
    (bad1, _), (of1, of0) = rate.bad, rate.of
    cur, ref = ctx.current, ctx.reference
    hours = (ctx.until_s - ctx.since_s) / 3600
    tests = [_test(rule, {}, bad1, of1, *usual.expected(of1), phi, hours)]
    for dim in DIMS:
        codes1, codes0 = getattr(cur, dim), getattr(ref, dim)
        present = np.unique(codes1[of1])
        if len(present) < 2:
            continue  # one group: the same test as overall
        for code in present[present != 0]:
            g1 = of1 & (codes1 == code)
            if g1.sum() >= rule.min_samples:
                p0, n0 = usual.expected(g1, of0 & (codes0 == code))
                tests.append(_test(rule, {dim: LABELS.label(code)}, bad1, g1, p0, n0, phi, hours))
    return tests


def _test(rule: CheckRule, scope: dict[str, str], bad: np.ndarray, rows: np.ndarray, p0: float, n0: float,
          phi: float, hours: float) -> _Test:
    x1, n1 = int((bad & rows).sum()), int(rows.sum())
    z = proportion_z(x1, n1, p0 * n0, n0, dispersion=phi)
    status = rule.grade_z(z, hours=hours, effect=rule.large_enough(x1 / n1, p0))
    return _Test(scope, x1, n1, p0 * n0, n0, z, status, rows)


def _per_period(ctx: Context, bad0: np.ndarray, of0: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    size = int(ctx.period.max(initial=0)) + 1
    x = np.bincount(ctx.period[bad0], minlength=size)[1:]
    n = np.bincount(ctx.period[of0], minlength=size)[1:]
    return x, n


def _attribution(ctx: Context, rate: Rate, usual: _Baseline, overall: _Test) -> dict[str, dict[str, object]]:
    """Per dimension, the group with the largest excess over its own baseline, and its share of the total."""
    (bad1, _), (of1, of0) = rate.bad, rate.of
    total = overall.x1 - overall.n1 * overall.baseline
    if total <= 0:
        return {}
    out: dict[str, dict[str, object]] = {}
    for dim in DIMS:
        codes1, codes0 = getattr(ctx.current, dim), getattr(ctx.reference, dim)
        best: tuple[float, int] | None = None
        for code in np.unique(codes1[of1]):
            g1 = of1 & (codes1 == code)
            p0, _ = usual.expected(g1, of0 & (codes0 == code))
            excess = float((bad1 & g1).sum() - g1.sum() * p0)
            if best is None or excess > best[0]:
                best = (excess, int(code))
        if best is not None and best[1] != 0 and _telling(ctx, dim, best[1], of1):
            out[dim] = {"group": LABELS.label(best[1]), "excess": best[0], "share": best[0] / total}
    return out


def _telling(ctx: Context, dim: str, code: int, rows: np.ndarray) -> bool:
    """Whether naming this group says something: its dimension varies now, or the group is new."""
    return len(np.unique(getattr(ctx.current, dim)[rows])) > 1 or not (getattr(ctx.reference, dim) == code).any()


def _prompt_change(ctx: Context, rate: Rate, scope: dict[str, str]) -> dict[str, object] | None:
    """The prompt version in scope, when it was never seen in the reference: a change that coincides."""
    version = scope.get("prompt_version")
    if version is None:
        return None
    code = LABELS.code(version)
    if (ctx.reference.prompt_version == code).any():
        return None
    rows = ctx.current.prompt_version == code
    of1 = rate.of[0]
    others = of1 & ~rows & (ctx.current.prompt_version != 0)
    before = float((rate.bad[0] & others).sum() / others.sum()) if others.any() else None
    return {"version": version, "first_seen": datetime.fromtimestamp(float(ctx.current.at[rows].min()), UTC),
            "rate_other_versions": before}


def _series(ctx: Context, rule: CheckRule, rate: Rate, test: _Test) -> tuple[list, list, datetime | None]:
    """Per-bucket rate of the test's group now and in the reference, and the first bucket that is clearly bad."""
    n = ctx.n_buckets()
    (bad1, bad0), (_, of0) = rate.bad, rate.of
    tenants = np.isin(ctx.reference.tenant, np.unique(ctx.current.tenant[test.rows]))
    rows0 = of0 & tenants & _group_mask(ctx.reference, test.scope)
    if not rows0.any():  # a group new in this window: plot it against its tenants' reference
        rows0 = of0 & tenants if (of0 & tenants).any() else of0
    b1, b0 = ctx.bucket(ctx.current.at[test.rows]), ctx.bucket(ctx.reference.at[rows0], ctx.period[rows0])
    k1, k0 = (b1 >= 0) & (b1 < n), (b0 >= 0) & (b0 < n)
    num1 = np.bincount(b1[k1], weights=bad1[test.rows][k1], minlength=n)[:n]
    den1 = np.bincount(b1[k1], minlength=n)[:n]
    num0 = np.bincount(b0[k0], weights=bad0[rows0][k0], minlength=n)[:n]
    den0 = np.bincount(b0[k0], minlength=n)[:n]
    with np.errstate(invalid="ignore", divide="ignore"):
        now, then = num1 / den1, num0 / den0
    first = None
    if test.status != "ok":  # the first bucket where the smoothed rate is clearly bad: one noisy bucket is not a start
        floor = test.baseline
        smooth = ewma(np.where(den1 >= 5, now, np.nan), alpha=0.5)
        bad_buckets = [i for i in range(n) if smooth[i] >= floor * rule.min_ratio and smooth[i] - floor >= rule.min_delta]
        first = ctx.bucket_start(bad_buckets[0]) if bad_buckets else None
    return ctx.points(now), ctx.points(then), first


def _group_mask(frame: Frame, scope: dict[str, str]) -> np.ndarray:
    rows = np.ones(len(frame), dtype=bool)
    for dim, label in scope.items():
        rows &= getattr(frame, dim) == LABELS.code(label)
    return rows
