"""Cost: spend and tokens per request against the same hours of past days, and the budget's burn rate.

    cost_spike          the window's cost vs the same window on each reference day: robust z
                        (median, MAD); attributed per tenant / route / prompt version / model to the
                        group whose increase over its own usual explains the spike
    tokens_per_request  mean tokens (in + out) per model call, the same way: catches a prompt or a
                        context size that grew while traffic stayed flat
    budget_burn         spend per hour / (daily budget / 24), overall and per tenant budget

The seasonal baseline needs `min_reference_periods` days with traffic; until
then these checks report "ok" and say why.

Left out: forecasting the rest of the day, and prices (costs come priced in
the traces, from llm/prices.toml).
"""

from __future__ import annotations

from datetime import datetime

import numpy as np

from dayshift.monitor.detectors import Context, scope_text
from dayshift.monitor.detectors.stats import robust_z
from dayshift.monitor.findings import Finding
from dayshift.monitor.frame import DIMS, LABELS

__all__ = ["detect"]

_ATTRIBUTION_SHARE = 0.5  # a group explains a spike when its own increase is at least half of the total


def detect(ctx: Context) -> list[Finding]:
    found = [_cost_spike(ctx), _tokens_per_request(ctx), _budget_burn(ctx)]
    return [f for f in found if f is not None]


def _history_short(ctx: Context, check: str, samples: int) -> Finding | None:
    rule, days = ctx.rule(check), len(ctx.periods)
    if days < ctx.rules.min_reference_periods:
        return ctx.finding("cost", check, "no_data", f"{check}: {days} reference days with traffic, "
                           f"{ctx.rules.min_reference_periods} needed for a seasonal baseline", samples=samples)
    if samples < rule.min_samples:
        return ctx.finding("cost", check, "no_data", f"{check}: {samples} requests, {rule.min_samples} needed to judge",
                           samples=samples)
    return None


def _cost_spike(ctx: Context) -> Finding | None:
    rule = ctx.rule("cost_spike")
    if not rule.enabled:
        return None
    cur, ref = ctx.current, ctx.reference
    short = _history_short(ctx, "cost_spike", len(cur))
    if short is not None:
        return short
    spend = float(cur.cost_usd.sum())
    z, usual, _scale = robust_z(spend, _period_sums(ctx, ref.cost_usd))
    status = rule.grade(z, effect=rule.large_enough(spend, usual))
    attribution = _attribute_sums(ctx, cur.cost_usd, ref.cost_usd, spend - usual)
    scope = _scope(attribution) if status != "ok" else {}
    series, baseline, first = _sum_series(ctx, cur.cost_usd, ref.cost_usd, rule.min_ratio)
    ratio = spend / usual if usual > 0 else float("inf")
    where = f"; mostly {scope_text(scope)}" if scope else ""
    summary = (f"cost ${spend:.2f} in {ctx.window_text()} vs ${usual:.2f} on the same hours of past days "
               f"({ratio:.1f}x, robust z {z:.1f}){where}")
    evidence = {"cost_usd": spend, "baseline_usd": usual, "ratio": ratio, "z": z, "attribution": attribution,
                "tokens": int(cur.tokens.sum()), "requests": len(cur)}
    return ctx.finding("cost", "cost_spike", status, summary, samples=len(cur), scope=scope, evidence=evidence,
                       series=series, baseline=baseline, started_at=first)


def _tokens_per_request(ctx: Context) -> Finding | None:
    rule = ctx.rule("tokens_per_request")
    if not rule.enabled:
        return None
    cur, ref = ctx.current, ctx.reference
    calls1, calls0 = cur.tokens > 0, ref.tokens > 0
    short = _history_short(ctx, "tokens_per_request", int(calls1.sum()))
    if short is not None:
        return short
    mean = float(cur.tokens[calls1].mean())
    tokens0 = _period_sums(ctx, np.where(calls0, ref.tokens, 0).astype(np.float64))
    counts0 = _period_sums(ctx, calls0.astype(np.float64))
    means = tokens0[counts0 > 0] / counts0[counts0 > 0]
    z, usual, _scale = robust_z(mean, means)
    status = rule.grade(z, effect=rule.large_enough(mean, usual))
    attribution = _attribute_means(ctx, calls1, calls0, mean - usual)
    scope = _scope(attribution) if status != "ok" else {}
    where = f"; mostly {scope_text(scope)}" if scope else ""
    summary = (f"{mean:.0f} tokens per model call vs {usual:.0f} on the same hours of past days "
               f"(robust z {z:.1f}){where}")
    evidence = {"tokens_per_request": mean, "baseline": usual, "z": z, "attribution": attribution,
                "input_tokens_per_request": float(cur.input_tokens[calls1].mean()),
                "output_tokens_per_request": float(cur.output_tokens[calls1].mean())}
    return ctx.finding("cost", "tokens_per_request", status, summary, samples=int(calls1.sum()), scope=scope,
                       evidence=evidence)


def _budget_burn(ctx: Context) -> Finding | None:
    rule, rules = ctx.rule("budget_burn"), ctx.rules
    budgets = ([("", rules.daily_budget_usd)] if rules.daily_budget_usd > 0 else []) + [
        (t, b) for t, b in rules.tenant_budgets_usd.items() if b > 0]
    if not rule.enabled or not budgets:
        return None
    cur = ctx.current
    hours = max((ctx.until_s - ctx.since_s) / 3600, 1e-9)
    burns = []
    for tenant, budget in budgets:
        rows = cur.tenant == LABELS.code(tenant) if tenant else np.ones(len(cur), dtype=bool)
        spend = float(cur.cost_usd[rows].sum())
        burns.append((spend / hours / (budget / 24), tenant, budget, spend))
    burn, tenant, budget, spend = max(burns)
    status = rule.grade(burn, effect=len(cur) >= rule.min_samples)
    scope = {"tenant": tenant} if tenant else {}
    whose = f"tenant {tenant}'s" if tenant else "the"
    summary = (f"spending ${spend / hours:.2f}/h: {burn:.1f}x the pace of {whose} daily budget of ${budget:.2f} "
               f"(gone in {24 / burn:.1f} h at this rate)" if burn > 0 else f"no spend against {whose} budget")
    evidence = {"burn_rate": burn, "spend_usd": spend, "hours": hours, "daily_budget_usd": budget,
                "projected_24h_usd": spend / hours * 24}
    return ctx.finding("cost", "budget_burn", status, summary, samples=len(cur), scope=scope, evidence=evidence,
                       started_at=ctx.since)


def _period_sums(ctx: Context, values: np.ndarray) -> np.ndarray:
    """Per present reference period, the sum of `values` (reference rows)."""
    sums = np.bincount(ctx.period, weights=values, minlength=int(ctx.period.max(initial=0)) + 1)
    return sums[ctx.periods]


def _attribute_sums(ctx: Context, v1: np.ndarray, v0: np.ndarray, total: float) -> dict[str, dict[str, object]]:
    """Per dimension, the group whose sum rose most over its own per-period median, and its share of `total`."""
    out: dict[str, dict[str, object]] = {}
    if not total > 0:
        return out
    periods = ctx.periods
    size = int(ctx.period.max(initial=0)) + 1
    for dim in DIMS:
        codes1, codes0 = getattr(ctx.current, dim), getattr(ctx.reference, dim)
        best = None
        for code in np.unique(codes1):
            now = float(v1[codes1 == code].sum())
            rows = codes0 == code
            usual = float(np.median(np.bincount(ctx.period[rows], weights=v0[rows], minlength=size)[periods]))
            if best is None or now - usual > best[0]:
                best = (now - usual, int(code))
        if best is not None and best[1] != 0 and _telling(codes1, codes0, best[1]):
            out[dim] = {"group": LABELS.label(best[1]), "increase": best[0], "share": best[0] / total}
    return out


def _telling(codes1: np.ndarray, codes0: np.ndarray, code: int) -> bool:
    """Whether naming this group says something: its dimension varies now, or the group is new."""
    return len(np.unique(codes1)) > 1 or not (codes0 == code).any()


def _attribute_means(ctx: Context, calls1: np.ndarray, calls0: np.ndarray, total: float) -> dict[str, dict[str, object]]:
    """Per dimension, the group whose mean rose most, weighted by its share of the calls, and its share of `total`."""
    out: dict[str, dict[str, object]] = {}
    cur, ref = ctx.current, ctx.reference
    if not total > 0:
        return out
    overall0 = float(ref.tokens[calls0].mean()) if calls0.any() else 0.0
    for dim in DIMS:
        codes1, codes0 = getattr(cur, dim), getattr(ref, dim)
        best = None
        for code in np.unique(codes1[calls1]):
            g1, g0 = calls1 & (codes1 == code), calls0 & (codes0 == code)
            usual = float(ref.tokens[g0].mean()) if g0.any() else overall0
            part = float(g1.sum() * (cur.tokens[g1].mean() - usual) / calls1.sum())
            if best is None or part > best[0]:
                best = (part, int(code))
        if best is not None and best[1] != 0 and _telling(codes1[calls1], codes0[calls0], best[1]):
            out[dim] = {"group": LABELS.label(best[1]), "increase": best[0], "share": best[0] / total}
    return out


def _scope(attribution: dict[str, dict[str, object]]) -> dict[str, str]:
    return {dim: str(a["group"]) for dim, a in attribution.items() if float(a["share"]) >= _ATTRIBUTION_SHARE}  # type: ignore[arg-type]


def _sum_series(ctx: Context, v1: np.ndarray, v0: np.ndarray, min_ratio: float) -> tuple[list, list, datetime | None]:
    """Per-bucket sums now; per-bucket medians over the reference days; the first bucket over min_ratio x usual."""
    n, periods = ctx.n_buckets(), ctx.periods
    b1 = ctx.bucket(ctx.current.at)
    k1 = (b1 >= 0) & (b1 < n)
    now = np.bincount(b1[k1], weights=v1[k1], minlength=n)[:n]
    b0 = ctx.bucket(ctx.reference.at, ctx.period)
    k0 = (b0 >= 0) & (b0 < n)
    size = int(ctx.period.max(initial=0)) + 1
    grid = np.bincount(ctx.period[k0] * n + b0[k0], weights=v0[k0], minlength=size * n)[: size * n].reshape(size, n)
    usual = np.median(grid[periods], axis=0) if periods else np.full(n, np.nan)
    over = [i for i in range(n) if now[i] > 0 and now[i] >= usual[i] * min_ratio]
    return ctx.points(now), ctx.points(usual), ctx.bucket_start(over[0]) if over else None
