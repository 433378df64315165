"""Why a chunk was, or was not, retrieved for a trace's question: its terms, its scores, its ranks, the cut-offs.

    why = explain_chunk(settings, record, "docs/guide.md:3")
    why.lines()     # ["retrieved at rank 2 of 5 in this trace", "keyword: BM25 4.21 (rank 3 of the 100 ...)", ...]

The question is searched again now, with the trace's filters and the retrieval settings it recorded
(mode, fusion, dense weight, candidates), each list taken deep enough to find the chunk's rank even
below the cut-off:

    keyword  the chunk's BM25 for the whole question and for each term alone (which terms it holds, and
             which it lacks); its rank among the filtered chunks, against the last keyword candidate's score
    dense    its cosine to the question; its rank, against the last dense candidate's
    fused    its fused score as the retriever computes it over the two candidate lists, against the k-th
             result's (with re-ranking on, the re-ranker has the last word: its order is shown)

Left out: explaining re-ranker scores (a cross-encoder has no terms to show).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from dayshift.analysis import analyze
from dayshift.assemble import open_retriever
from dayshift.debugger.overrides import apply_overrides, recorded_retrieval
from dayshift.errors import ConfigError
from dayshift.retrieve.filters import parse_filters
from dayshift.settings import Settings
from dayshift.tenancy import tenant_settings
from dayshift.trace.record import TraceRecord
from dayshift.types import Chunk, Condition, Hit

__all__ = ["ChunkExplanation", "explain_chunk"]

_DEEP = 5000  # how far down each list is searched for the chunk's rank


@dataclass(slots=True)
class ChunkExplanation:
    chunk_id: str
    question: str
    mode: str
    k: int
    candidates: int
    chunk: Chunk | None = None
    in_filters: bool = True  # False: the trace's filters exclude the chunk
    trace_rank: int | None = None  # its rank in the trace (None: not retrieved then)
    source_n: int | None = None  # the [n] it was shown to the model as
    now_rank: int | None = None  # its rank in today's top k
    terms: dict[str, float] = field(default_factory=dict)  # question term -> its BM25 in this chunk (0: absent)
    keyword: float | None = None
    keyword_rank: int | None = None
    keyword_cutoff: float | None = None  # the last keyword candidate's score
    dense: float | None = None
    dense_rank: int | None = None
    dense_cutoff: float | None = None
    fused: float | None = None
    fused_cutoff: float | None = None  # the k-th result's score today
    top: list[tuple[str, float]] = field(default_factory=list)  # today's top k: (chunk id, score)

    def lines(self) -> list[str]:
        """The explanation, one finding a line, most telling first."""
        if self.chunk is None:
            return [f"{self.chunk_id} is not in the index now (its document was deleted or re-chunked since)"]
        out = [f"retrieved at rank {self.trace_rank} in this trace" + (f", shown to the model as [{self.source_n}]"
               if self.source_n else "") if self.trace_rank else "not retrieved in this trace"]
        if not self.in_filters:
            return [*out, "the trace's filters exclude it: no score can reach it"]
        out.append(self._keyword_line())
        out.append(self._dense_line())
        if self.fused is not None and self.fused_cutoff is not None:
            gap = self.fused - self.fused_cutoff
            verdict = "makes the top" if self.now_rank else f"misses the top {self.k} by {-gap:.3f}"
            out.append(f"fused: {self.fused:.3f} against {self.fused_cutoff:.3f} for result {self.k}: it {verdict}")
        out.append(f"today it ranks {self.now_rank} of {self.k}" if self.now_rank else
                   f"today it is not in the top {self.k}")
        return out

    def _keyword_line(self) -> str:
        if self.mode == "dense":
            return "keyword: not used (mode dense)"
        held = [t for t, s in self.terms.items() if s > 0]
        missing = [t for t, s in self.terms.items() if s <= 0]
        if not held:
            return f"keyword: none of the question's terms ({', '.join(self.terms) or 'none'}) occurs in it"
        inside = self.keyword_rank is not None and self.keyword_rank <= self.candidates
        where = (f"rank {self.keyword_rank}, within the {self.candidates} candidates" if inside else
                 f"rank {self.keyword_rank or f'>{_DEEP}'}, below the {self.candidates}th candidate's "
                 f"{_num(self.keyword_cutoff)}: it never reached fusion")
        lacks = f"; lacks {', '.join(missing)}" if missing else ""
        return f"keyword: BM25 {self.keyword or 0:.3f} ({where}); holds {', '.join(held)}{lacks}"

    def _dense_line(self) -> str:
        if self.mode == "keyword":
            return "dense: not used (mode keyword)"
        if self.dense is None:
            return "dense: no vector score"
        inside = self.dense_rank is not None and self.dense_rank <= self.candidates
        where = (f"rank {self.dense_rank}, within the {self.candidates} candidates" if inside else
                 f"rank {self.dense_rank or f'>{_DEEP}'}, below the {self.candidates}th candidate's "
                 f"{_num(self.dense_cutoff)}")
        return f"dense: cosine {self.dense:.3f} ({where})"


def explain_chunk(settings: Settings, record: TraceRecord, chunk_id: str) -> ChunkExplanation:
    if record.query is None:
        raise ConfigError(f"trace {record.trace_id} holds no question (trace.store_text = \"none\"): "
                          "nothing to explain")
    tenant = apply_overrides(tenant_settings(settings, record.tenant), recorded_retrieval(record.detail))
    retriever = open_retriever(tenant)
    try:
        return _explain(retriever, record, chunk_id, settings=tenant)
    finally:
        retriever.store.close()


def _explain(retriever: Any, record: TraceRecord, chunk_id: str, *, settings: Settings) -> ChunkExplanation:
    r, question = settings.retrieve, record.query or ""
    where = parse_filters(record.params.get("where") or [])
    k = len(record.retrieved) or settings.answer.k
    why = ChunkExplanation(chunk_id=chunk_id, question=question, mode=r.mode, k=k, candidates=r.candidates)
    ranks = {c.chunk_id: c.rank for c in record.retrieved}
    why.trace_rank = ranks.get(chunk_id)
    why.source_n = next((s["n"] for s in (record.detail or {}).get("sources", []) if s["chunk_id"] == chunk_id), None)
    store, terms = retriever.store, analyze(question)
    vector = retriever.embedder.embed([question], kind="query")[0]
    doc = [Condition("doc_id", "=", chunk_id.rsplit(":", 1)[0])]
    own = _find(store.dense_search(vector, k=_DEEP, where=[*where, *doc]), chunk_id)
    if own is None:
        anywhere = _find(store.dense_search(vector, k=_DEEP, where=doc), chunk_id)
        why.chunk, why.in_filters = (anywhere.chunk, False) if anywhere else (None, True)
        return why
    why.chunk, why.dense = own.chunk, own.score
    for term in dict.fromkeys(terms):
        alone = _find(store.keyword_search([term], k=_DEEP, where=[*where, *doc]), chunk_id)
        why.terms[term] = alone.score if alone else 0.0
    whole = _find(store.keyword_search(terms, k=_DEEP, where=[*where, *doc]), chunk_id)
    why.keyword = whole.score if whole else None
    keyword_list = store.keyword_search(terms, k=_DEEP, where=where) if terms else []
    dense_list = store.dense_search(vector, k=_DEEP, where=where)
    why.keyword_rank, why.keyword_cutoff = _rank(keyword_list, chunk_id), _cutoff(keyword_list, r.candidates)
    why.dense_rank, why.dense_cutoff = _rank(dense_list, chunk_id), _cutoff(dense_list, r.candidates)
    found = retriever.search(question, k=k, where=where)
    why.top = [(h.chunk.chunk_id, float(h.score)) for h in found.hits]
    why.now_rank = next((i for i, (cid, _) in enumerate(why.top, 1) if cid == chunk_id), None)
    why.fused_cutoff = why.top[-1][1] if why.top else None
    why.fused = _fused(chunk_id, keyword_list[: r.candidates], dense_list[: r.candidates], settings)
    return why


def _fused(chunk_id: str, keyword: list[Hit], dense: list[Hit], settings: Settings) -> float | None:
    """The chunk's score as the retriever fuses the two candidate lists (mode and fusion as set)."""
    r = settings.retrieve
    lists = {"keyword": keyword, "dense": dense}
    if r.mode != "hybrid":
        hit = _find(lists[r.mode], chunk_id)
        return hit.score if hit else None
    if r.fusion == "rrf":
        return sum(1.0 / (r.rrf_k + rank) for hits in lists.values() if (rank := _rank(hits, chunk_id)))
    total = 0.0
    for hits, weight in ((keyword, 1.0 - r.dense_weight), (dense, r.dense_weight)):
        hit = _find(hits, chunk_id)
        if hit is None or not hits or weight == 0:
            continue
        low, high = min(h.score for h in hits), max(h.score for h in hits)
        total += weight * (hit.score - low) / ((high - low) or 1.0)
    return total


def _find(hits: list[Hit], chunk_id: str) -> Hit | None:
    return next((h for h in hits if h.chunk.chunk_id == chunk_id), None)


def _rank(hits: list[Hit], chunk_id: str) -> int | None:
    return next((i for i, h in enumerate(hits, 1) if h.chunk.chunk_id == chunk_id), None)


def _cutoff(hits: list[Hit], candidates: int) -> float | None:
    return hits[min(candidates, len(hits)) - 1].score if hits else None


def _num(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"

