"""Query drift: are people asking about things the reference period never saw, and what?

    reference questions --split at random--> A (calibration) | B (comparison set)
    nearest-B similarity of each A question  --> its novelty_quantile (say 5%) is the threshold tau
    each current question: nearest-B similarity < tau  --> "far" (unlike anything asked before)
    share far now vs share far in A (about 5% by construction): two-proportion z, overall and per tenant
    far questions --average-linkage clustering (cosine)--> topics: size, tenants, example questions

Calibrating tau on A against B, and testing the window against the same B,
makes the expected share of far questions under "nothing changed" exactly
the quantile, whatever the embedding model or the domain. Questions are
sampled (max_queries now, twice that from the reference) so a day's window
costs the same as an hour's; each distinct text is embedded once.

Left out: the drift of answers, and naming topics (the examples do that).
"""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
from scipy.cluster.hierarchy import fcluster, linkage

from dayshift.monitor.detectors import Context, EmbedQueries
from dayshift.monitor.detectors.stats import proportion_z
from dayshift.monitor.findings import Finding
from dayshift.monitor.frame import LABELS
from dayshift.monitor.rules import CheckRule

__all__ = ["detect"]

_MAX_CLUSTERED = 400  # far questions clustered at most (linkage is quadratic)


def detect(ctx: Context) -> list[Finding]:
    rule = ctx.rule("query_drift")
    if not rule.enabled:
        return []
    if ctx.embed_queries is None:
        return [ctx.finding("drift", "query_drift", "no_data", "query drift not checked: no embedder given", samples=0)]
    rng = np.random.default_rng(0)
    cap = int(rule.option("max_queries", 1000))
    rows1 = _sample(ctx.current.query, cap, rng)
    rows0 = _sample(ctx.reference.query, 2 * cap, rng)
    if len(rows1) < rule.min_samples or len(rows0) < 2 * rule.min_samples:
        return [ctx.finding("drift", "query_drift", "no_data",
                            f"query drift: {len(rows1)} questions now, {len(rows0)} in "
                            f"the reference; {rule.min_samples} and {2 * rule.min_samples} needed", samples=len(rows1))]
    half = rng.permutation(len(rows0))
    rows_a, rows_b = rows0[half[: len(half) // 2]], rows0[half[len(half) // 2:]]
    v1, va, vb = _embed(ctx.embed_queries, [ctx.current.query[rows1], ctx.reference.query[rows_a],
                                            ctx.reference.query[rows_b]])
    near_a, near_1 = (va @ vb.T).max(axis=1), (v1 @ vb.T).max(axis=1)
    tau = float(np.quantile(near_a, rule.option("novelty_quantile", 0.05)))
    far1, far_a = near_1 < tau, near_a < tau
    hours = (ctx.until_s - ctx.since_s) / 3600
    tests = [_test(rule, {}, far1, far_a, hours=hours)]
    t1, ta = ctx.current.tenant[rows1], ctx.reference.tenant[rows_a]
    if len(np.unique(t1)) > 1:
        for code in np.unique(t1):
            g1, ga = t1 == code, ta == code
            if g1.sum() >= rule.min_samples:
                tests.append(_test(rule, {"tenant": LABELS.label(code)}, far1[g1],
                                   far_a[ga] if ga.sum() >= 2 * rule.min_samples else far_a, hours=hours))
    rank = {"no_data": -1, "ok": 0, "warn": 1, "alert": 2}
    best = max(tests, key=lambda t: (rank[t["status"]], t["z"]))
    topics = _topics(ctx, rule, rows1[far1], v1[far1], len(rows1))
    mean_distance = 1.0 - float(_unit(v1.mean(axis=0)) @ _unit(np.vstack([va, vb]).mean(axis=0)))
    where = f" of tenant {best['scope']['tenant']}" if best["scope"] else ""
    summary = (f"{best['share']:.0%} of questions{where} are unlike any in the reference (usually "
               f"{best['baseline']:.0%}; z {best['z']:.1f})")
    if topics:
        summary += f"; {len(topics)} new topic(s), the largest {topics[0]['size']} questions, e.g. " \
                   f"\"{topics[0]['examples'][0]}\""
    evidence = {"far_share": best["share"], "baseline_far_share": best["baseline"], "z": best["z"],
                "threshold_similarity": tau, "mean_embedding_distance": mean_distance, "topics": topics,
                "questions": len(rows1), "reference_questions": len(rows0)}
    series, baseline = _series(ctx, rows1, far1, rows_a, far_a)
    started = _first_far(ctx, rows1, far1, topics) if best["status"] != "ok" else None
    return [ctx.finding("drift", "query_drift", best["status"], summary, samples=len(rows1),
                        scope=dict(best["scope"]), evidence=evidence, series=series, baseline=baseline,
                        started_at=started)]


def _sample(queries: np.ndarray, cap: int, rng: np.random.Generator) -> np.ndarray:
    rows = np.flatnonzero([bool(q) for q in queries])
    return np.sort(rng.choice(rows, cap, replace=False)) if len(rows) > cap else rows


def _embed(embed: EmbedQueries, groups: list[np.ndarray]) -> list[np.ndarray]:
    """Each group's vectors, embedding every distinct text once."""
    texts = sorted({str(q) for g in groups for q in g})
    vectors = np.asarray(embed(texts), dtype=np.float32)
    index = {t: i for i, t in enumerate(texts)}
    return [vectors[[index[str(q)] for q in g]] for g in groups]


def _test(rule: CheckRule, scope: dict[str, str], far1: np.ndarray, far0: np.ndarray, *, hours: float
          ) -> dict:  # type: ignore[type-arg]
    x1, n1, x0, n0 = int(far1.sum()), len(far1), int(far0.sum()), len(far0)
    z = proportion_z(x1, n1, x0, n0)
    share, baseline = x1 / n1, x0 / n0
    return {"scope": scope, "z": z, "share": share, "baseline": baseline,
            "status": rule.grade_z(z, hours=hours, effect=rule.large_enough(share, baseline))}


def _topics(ctx: Context, rule: CheckRule, rows: np.ndarray, vectors: np.ndarray, total: int) -> list[dict]:  # type: ignore[type-arg]
    """Clusters of far questions with at least min_topic_size members, largest first."""
    size = int(rule.option("min_topic_size", 5))
    if len(rows) < size:
        return []
    rows, vectors = rows[:_MAX_CLUSTERED], vectors[:_MAX_CLUSTERED]
    labels = fcluster(linkage(vectors, method="average", metric="cosine"),
                      t=rule.option("cluster_distance", 0.75), criterion="distance")
    topics = []
    for label in np.unique(labels):
        members = np.flatnonzero(labels == label)
        if len(members) < size:
            continue
        centre = _unit(vectors[members].mean(axis=0))
        order = members[np.argsort(-(vectors[members] @ centre))]
        examples = list(dict.fromkeys(str(ctx.current.query[rows[i]]) for i in order))[:3]
        tenants, counts = np.unique(ctx.current.tenant[rows[members]], return_counts=True)
        topics.append({
            "size": len(members), "share": len(members) / total, "examples": examples,
            "tenants": {LABELS.label(t): int(c) for t, c in zip(tenants, counts)},
            "first_seen": datetime.fromtimestamp(float(ctx.current.at[rows[members]].min()), UTC).isoformat(),
        })
    return sorted(topics, key=lambda t: -t["size"])


def _series(ctx: Context, rows1: np.ndarray, far1: np.ndarray, rows_a: np.ndarray, far_a: np.ndarray
            ) -> tuple[list, list]:
    n = ctx.n_buckets()
    b1 = np.clip(ctx.bucket(ctx.current.at[rows1]), 0, n - 1)
    b0 = np.clip(ctx.bucket(ctx.reference.at[rows_a], ctx.period[rows_a]), 0, n - 1)
    with np.errstate(invalid="ignore", divide="ignore"):
        now = np.bincount(b1, weights=far1, minlength=n) / np.bincount(b1, minlength=n)
        then = np.bincount(b0, weights=far_a, minlength=n) / np.bincount(b0, minlength=n)
    return ctx.points(now), ctx.points(then)


def _first_far(ctx: Context, rows1: np.ndarray, far1: np.ndarray, topics: list[dict]) -> datetime | None:  # type: ignore[type-arg]
    if topics:
        return datetime.fromisoformat(min(t["first_seen"] for t in topics))
    return datetime.fromtimestamp(float(ctx.current.at[rows1[far1]].min()), UTC) if far1.any() else None


def _unit(v: np.ndarray) -> np.ndarray:
    norm = float(np.linalg.norm(v))
    return v / norm if norm > 0 else v
