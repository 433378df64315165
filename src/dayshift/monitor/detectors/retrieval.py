"""Retrieval quality without labels: scores, evidence, citations, stale documents, a silent re-ranker.

    top_score_shift    the top retrieved score's distribution vs the reference (PSI, gated by KS)
    low_evidence       share of retrievals whose top score is under a floor (by default the
                       reference's 5th percentile, so the check needs no knowledge of the score scale)
    empty_results      share of successful requests that retrieved nothing
    citation_coverage  share of given answers without a single [n] citation
    stale_answers      share of retrievals that used a document version older than one already
                       served for that document (frame.VersionHistory): a re-index that left old
                       chunks behind, or a replica serving an old index
    reranker_silent    for the tenants and routes whose requests are usually re-ranked: the rerank
                       stage missing, its latency collapsing (median under latency_ratio x usual,
                       confirmed by a one-sided Mann-Whitney test), or flat scores (all equal)

Left out: relevance itself (no labels in production; evals/ measures it offline).
"""

from __future__ import annotations

import numpy as np
from scipy import stats as sps

from dayshift.monitor.detectors import Context
from dayshift.monitor.detectors.rates import Rate, rate_finding
from dayshift.monitor.detectors.shift import Shift, shift_finding
from dayshift.monitor.findings import Finding
from dayshift.monitor.frame import LABELS, Frame

__all__ = ["detect"]

_RANK = {"no_data": -1, "ok": 0, "warn": 1, "alert": 2}
_USUALLY_RERANKED = 0.9  # a tenant and route whose reference requests carry a rerank stage at least this often


def detect(ctx: Context) -> list[Finding]:
    cur, ref = ctx.current, ctx.reference
    retrieved = (np.isfinite(cur.top_score), np.isfinite(ref.top_score))
    found = [
        shift_finding(ctx, Shift("retrieval", "top_score_shift", "top retrieved score",
                                 values=(cur.top_score, ref.top_score))),
        _low_evidence(ctx, retrieved),
        rate_finding(ctx, Rate("retrieval", "empty_results", "empty-result rate",
                               bad=(cur.n_retrieved == 0, ref.n_retrieved == 0), of=(cur.ok, ref.ok))),
        rate_finding(ctx, Rate("retrieval", "citation_coverage", "share of answers without a citation",
                               bad=(cur.cited == 0, ref.cited == 0), of=(cur.cited >= 0, ref.cited >= 0))),
        rate_finding(ctx, Rate("retrieval", "stale_answers", "share of retrievals from stale document versions",
                               bad=(cur.stale == 1, ref.stale == 1), of=(cur.stale >= 0, ref.stale >= 0))),
        _reranker_silent(ctx),
    ]
    return [f for f in found if f is not None]


def _low_evidence(ctx: Context, retrieved: tuple[np.ndarray, np.ndarray]) -> Finding | None:
    rule = ctx.rule("low_evidence")
    ref_scores = ctx.reference.top_score[retrieved[1]]
    if "floor" in rule.options:
        floor = rule.options["floor"]
    elif len(ref_scores):
        floor = float(np.quantile(ref_scores, rule.option("floor_quantile", 0.05)))
    else:  # no reference scores to set a floor from
        return ctx.finding("retrieval", "low_evidence", "no_data", "low evidence: no retrievals in the reference "
                           "days to set a floor from", samples=int(retrieved[0].sum()))
    with np.errstate(invalid="ignore"):
        bad = (ctx.current.top_score < floor, ctx.reference.top_score < floor)
    return rate_finding(ctx, Rate("retrieval", "low_evidence", f"share of retrievals with top score under {floor:.3g}",
                                  bad=bad, of=retrieved, evidence={"floor": floor}))


def _reranker_silent(ctx: Context) -> Finding | None:
    rule = ctx.rule("reranker_silent")
    if not rule.enabled:
        return None
    cur, ref = ctx.current, ctx.reference
    usual = _usually_reranked(ref, rule.min_samples)
    of1 = cur.ok & (cur.n_retrieved > 0) & np.isin(_key(cur), usual)
    of0 = ref.ok & (ref.n_retrieved > 0) & np.isin(_key(ref), usual)
    if not len(usual):
        return ctx.finding("retrieval", "reranker_silent", "no_data",
                           "no tenant's requests are usually re-ranked in the "
                           "reference: nothing to watch", samples=0)
    flat1, flat0 = cur.score_spread <= 1e-9, ref.score_spread <= 1e-9
    signals = [
        rate_finding(ctx, Rate("retrieval", "reranker_silent", "share of usually re-ranked requests without a rerank "
                               "stage", bad=(np.isnan(cur.rerank_ms), np.isnan(ref.rerank_ms)), of=(of1, of0))),
        rate_finding(ctx, Rate("retrieval", "reranker_silent", "share of re-ranked requests with flat scores",
                               bad=(flat1, flat0), of=(of1 & (cur.n_retrieved > 1), of0 & (ref.n_retrieved > 1)))),
        _latency_collapse(ctx, of1, of0),
    ]
    found = [s for s in signals if s is not None]
    worst = max(found, key=lambda f: _RANK[f.status])
    worst.evidence["signals"] = {f.summary: f.status for f in found}
    return worst


def _latency_collapse(ctx: Context, of1: np.ndarray, of0: np.ndarray) -> Finding | None:
    rule = ctx.rule("reranker_silent")
    cur, ref = ctx.current, ctx.reference
    limit = rule.option("latency_ratio", 0.2)
    worst = None
    for code in np.unique(cur.tenant[of1]):
        g1 = of1 & (cur.tenant == code) & np.isfinite(cur.rerank_ms)
        g0 = of0 & (ref.tenant == code) & np.isfinite(ref.rerank_ms)
        if g1.sum() < rule.min_samples or g0.sum() < rule.min_samples:
            continue
        now, usual = float(np.median(cur.rerank_ms[g1])), float(np.median(ref.rerank_ms[g0]))
        if usual <= 0:
            continue
        p = float(sps.mannwhitneyu(cur.rerank_ms[g1], ref.rerank_ms[g0], alternative="less").pvalue)
        ratio = now / usual
        if worst is None or ratio < worst[0]:
            worst = (ratio, p, now, usual, int(code), int(g1.sum()))
    if worst is None:
        return None
    ratio, p, now, usual, code, n = worst
    status = "alert" if ratio <= limit and p <= 1e-4 else "ok"
    tenant = LABELS.label(code)
    summary = (f"rerank stage of tenant {tenant} takes {now:.2g} ms (median) vs {usual:.2g} ms usually "
               f"({ratio:.0%}; Mann-Whitney p {p:.1g})")
    return ctx.finding("retrieval", "reranker_silent", status, summary, samples=n,
                       scope={"tenant": tenant} if status != "ok" else {},
                       evidence={"rerank_ms": now, "baseline_rerank_ms": usual, "ratio": ratio, "p": p},
                       started_at=ctx.since)


def _key(frame: Frame) -> np.ndarray:
    return frame.tenant.astype(np.int64) * 1_000_003 + frame.route


def _usually_reranked(ref: Frame, min_samples: int) -> np.ndarray:
    """Keys (tenant, route) whose reference requests carry a rerank stage at least 90% of the time."""
    rows = ref.ok & (ref.n_retrieved > 0)
    keys = _key(ref)[rows]
    if not len(keys):
        return np.array([], dtype=np.int64)
    uniq, inverse = np.unique(keys, return_inverse=True)
    total = np.bincount(inverse)
    reranked = np.bincount(inverse, weights=np.isfinite(ref.rerank_ms[rows]))
    return uniq[(total >= min_samples) & (reranked >= _USUALLY_RERANKED * total)]
