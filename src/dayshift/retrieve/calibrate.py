"""Fit the hybrid fusion to a few dozen labelled queries of your own.

    labelled queries --split by a hash of the text--> fit part | held-out part
    each query: keyword and dense document lists, once (retrieve, per document)
    each fusion on the grid (weighted, dense weight 0.0..1.0; rrf, k 10 | 60):
        mean nDCG@10 on the fit part  -> the best one
    report: the fitted fusion and the configured one, on the held-out part only

The choice is saved to data_dir/retrieval_fusion.json; `fitted_settings` lays it
over `[retrieve]` when a retriever is opened. The held-out figures are the honest
ones: the fit part chose the fusion and says little about how well it does.

Left out: fitting the candidate depth or the dense query length (they trade
speed, which labelled queries do not measure), and per-query-type fusion.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Literal

from dayshift.errors import ConfigError
from dayshift.fusion import document_key, reciprocal_rank_fusion, weighted_fusion
from dayshift.settings import RetrieveSettings
from dayshift.types import Hit

FILE = "retrieval_fusion.json"
K = 10
MIN_QUERIES = 10  # fewer, and a held-out half of five says nothing


@dataclass(frozen=True, slots=True)
class Fusion:
    fusion: Literal["weighted", "rrf"]
    dense_weight: float = 0.5  # weighted only
    rrf_k: int = 60  # rrf only

    def label(self) -> str:
        return f"weighted, dense {self.dense_weight:.1f}" if self.fusion == "weighted" else f"rrf, k {self.rrf_k}"


@dataclass(frozen=True, slots=True)
class LabelledQuery:
    text: str
    relevant: frozenset[str]  # document ids (Chunk.doc_id)


@dataclass(frozen=True, slots=True)
class FusionFit:
    chosen: Fusion
    configured: Fusion
    fit_queries: int
    held_out_queries: int
    fit_ndcg: float  # the chosen fusion, on the part it was chosen on
    held_out_ndcg: float  # the chosen fusion, on queries it never saw
    held_out_configured_ndcg: float  # the fusion configured before, on the same held-out queries
    held_out_keyword_ndcg: float
    held_out_dense_ndcg: float

    def save(self, data_dir: Path) -> Path:
        path = data_dir / FILE
        payload = {"chosen": asdict(self.chosen), "fitted_on": {k: v for k, v in asdict(self).items() if k != "chosen"}}
        path.write_text(json.dumps(payload, indent=2) + "\n", encoding="utf-8")
        return path


GRID: tuple[Fusion, ...] = (
    *(Fusion("weighted", dense_weight=round(w / 10, 1)) for w in range(11)),
    Fusion("rrf", rrf_k=10),
    Fusion("rrf", rrf_k=60),
)

Lists = tuple[list[Hit], list[Hit]]  # (keyword, dense) document hits, best first


def fit_fusion(
    queries: Sequence[LabelledQuery],
    lists_of: Callable[[str], Lists],
    *,
    configured: RetrieveSettings,
    grid: Iterable[Fusion] = GRID,
    progress: Callable[[Iterable[LabelledQuery]], Iterable[LabelledQuery]] = lambda q: q,
) -> FusionFit:
    """The grid's best fusion by mean nDCG@10 on the fit part, scored on the held-out part."""
    if len(queries) < MIN_QUERIES:
        raise ConfigError(f"fitting the fusion needs at least {MIN_QUERIES} labelled queries with expected "
                          f"documents, got {len(queries)}: label more (dayshift eval harvest helps)")
    fit, held = split_queries(queries)
    lists = {q.text: lists_of(q.text) for q in progress(queries)}
    grid = list(grid)
    fit_scores = {f: mean_ndcg(fit, lists, f) for f in grid}
    chosen = max(grid, key=lambda f: (round(fit_scores[f], 6), f == _as_fusion(configured)))  # ties keep the configured
    now = _as_fusion(configured)
    return FusionFit(
        chosen=chosen, configured=now, fit_queries=len(fit), held_out_queries=len(held),
        fit_ndcg=fit_scores[chosen], held_out_ndcg=mean_ndcg(held, lists, chosen),
        held_out_configured_ndcg=mean_ndcg(held, lists, now),
        held_out_keyword_ndcg=mean_ndcg(held, lists, Fusion("weighted", dense_weight=0.0)),
        held_out_dense_ndcg=mean_ndcg(held, lists, Fusion("weighted", dense_weight=1.0)),
    )  # fmt: skip


def split_queries(queries: Sequence[LabelledQuery]) -> tuple[list[LabelledQuery], list[LabelledQuery]]:
    """(fit, held out): half and half by a hash of the query text, the same on every run and machine."""
    fit, held = [], []
    for q in queries:
        (fit if hashlib.blake2b(q.text.encode(), digest_size=8).digest()[0] % 2 == 0 else held).append(q)
    if not fit or not held:  # a hash can put a tiny set all on one side
        ordered = sorted(queries, key=lambda q: hashlib.blake2b(q.text.encode(), digest_size=8).digest())
        half = len(ordered) // 2
        fit, held = ordered[:half], ordered[half:]
    return fit, held


def fuse(lists: Lists, fusion: Fusion, *, k: int = K) -> list[Hit]:
    keyword, dense = lists
    if fusion.fusion == "rrf":
        return reciprocal_rank_fusion([keyword, dense], k=k, rrf_k=fusion.rrf_k, key=document_key)
    weights = [1.0 - fusion.dense_weight, fusion.dense_weight]
    return weighted_fusion([keyword, dense], k=k, weights=weights, key=document_key)


def mean_ndcg(queries: Sequence[LabelledQuery], lists: dict[str, Lists], fusion: Fusion) -> float:
    if not queries:
        return 0.0
    return sum(ndcg_at_10([h.chunk.doc_id for h in fuse(lists[q.text], fusion)], q.relevant) for q in queries) / len(
        queries
    )


def ndcg_at_10(ranked: Sequence[str], relevant: frozenset[str]) -> float:
    dcg = sum(1.0 / math.log2(i + 2) for i, d in enumerate(ranked[:K]) if d in relevant)
    ideal = sum(1.0 / math.log2(i + 2) for i in range(min(len(relevant), K)))
    return dcg / ideal if ideal else 0.0


def fitted_settings(settings: RetrieveSettings, data_dir: Path) -> RetrieveSettings:
    """`settings` with the fusion saved by `dayshift calibrate --retrieval` laid over it, if there is one."""
    path = data_dir / FILE
    if not path.exists():
        return settings
    try:
        chosen = json.loads(path.read_text(encoding="utf-8"))["chosen"]
        fusion = Fusion(fusion=chosen["fusion"], dense_weight=float(chosen["dense_weight"]), rrf_k=int(chosen["rrf_k"]))
    except (ValueError, KeyError, TypeError) as exc:
        raise ConfigError(f"{path} is not a fitted fusion ({exc!r}): run dayshift calibrate --retrieval again, "
                          "or delete the file to use [retrieve] as configured") from exc
    return settings.model_copy(update=asdict(fusion))


def _as_fusion(settings: RetrieveSettings) -> Fusion:
    return Fusion(settings.fusion, dense_weight=settings.dense_weight, rrf_k=settings.rrf_k)
