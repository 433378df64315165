"""Simulated service traffic for benchmarks/incidents.py: traces as the service writes them, with incidents.

    traffic = Traffic(shared_data, seed=0, incidents=INCIDENTS)
    for batch, feedback in traffic.generate(start, end):   # TraceRecords in time order, Feedback to add
        store.write(batch)

Four tenants on a diurnal cycle (peaks at their own local afternoons, weekends
at 45%, a day-to-day wobble), each asking real questions: SQuAD 2.0 dev
questions (80% answerable) for two, SciFact claims for two. Each question has
a latent answer quality q that drives its retrieval scores (cross-encoder
logits where re-ranked, fused scores where not), the answerer's confidence,
abstention ("I don't know" under 0.42), and the chance of a thumbs-down.
Documents get clean new versions now and then, each picked up by a sync run
that gives the tenant's index a new version (recorded on every trace, as the
service records it: "sync-<run>@<finished>"); prices are the shipped list
prices (gpt-4o, gpt-4o-mini; the local model is free).

Incidents change the generator from their onset: see `INCIDENTS` in
benchmarks/incidents.py for what each one does and when.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import math
import re
from bisect import bisect_right
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np

from dayshift.trace.record import Feedback, RetrievedChunk, TraceRecord

PRICES = {"gpt-4o-mini": (0.15, 0.60), "gpt-4o": (2.50, 10.00), "smollm2-135m-instruct": (0.0, 0.0)}  # USD / Mtok
ABSTAIN_BELOW = 0.42


@dataclass(frozen=True, slots=True)
class Tenant:
    name: str
    pool: str  # "squad_even", "squad_odd", "scifact_a", "scifact_b"
    per_day: float  # requests on an average weekday
    peak_hour_utc: float
    model: str
    prompt: str
    reranked: bool
    heavy: bool = False  # a batch client sending whole documents as context


TENANTS = (
    Tenant("acme", "squad_even", 3200, 15.0, "gpt-4o-mini", "v3", True),
    Tenant("globex", "squad_odd", 2700, 11.0, "gpt-4o-mini", "v3", True),
    Tenant("initech", "scifact_a", 2200, 14.0, "gpt-4o", "v3", True),
    Tenant("umbrella", "scifact_b", 900, 4.0, "smollm2-135m-instruct", "v2", False),
)


@dataclass(slots=True)
class Effects:
    """What the incidents active at one moment change; the default is a normal day."""

    prompt: dict[str, str] = field(default_factory=dict)  # tenant -> prompt version
    confidence_shift: float = 0.0  # subtracted from confidence (a worse prompt)
    new_topic_share: dict[str, float] = field(default_factory=dict)  # tenant -> share of new-topic questions
    stale_docs: dict[str, float] = field(default_factory=dict)  # tenant -> chance a re-indexed doc comes back old
    reranker_down: bool = False
    down_multiplier: float = 1.0  # the chance of a thumbs-down, times this (slow slide)
    reindexed: dict[str, datetime] = field(default_factory=dict)  # tenant -> when an extra sync run re-indexed it


class Questions:
    """The question pools, from the shared data; popularity is Zipf-like (a few questions asked often)."""

    def __init__(self, shared: Path, rng: np.random.Generator) -> None:
        with gzip.open(shared / "squad2" / "dev-v2.0-part-a.json.gz", "rt", encoding="utf-8") as handle:
            articles = json.load(handle)["data"]
        self.pools: dict[str, list[tuple[str, str, str]]] = {}  # pool -> [(question, kind, home doc)]
        for name, part in (("squad_even", articles[0::2]), ("squad_odd", articles[1::2])):
            self.pools[name] = [(q["question"].strip(), "unanswerable" if q["is_impossible"] else "answerable",
                                 f"{a['title']}#{i}") for a in part for i, p in enumerate(a["paragraphs"])
                                for q in p["qas"]]
        claims = [json.loads(line) for line in (shared / "beir" / "scifact" / "queries.jsonl").read_text().splitlines()]
        asked = [(f"Is it true that {c['text'][0].lower()}{c['text'][1:].rstrip('.')}?", "answerable", f"sf{c['_id']}")
                 for c in claims]
        self.pools["scifact_a"], self.pools["scifact_b"] = asked[: 2 * len(asked) // 3], asked[2 * len(asked) // 3:]
        self.pools["rust"] = [(q, "novel", "") for q in rust_questions(shared / "markdown_rust_book" / "src", rng)]
        self.cdf = {name: np.cumsum(_zipf(len(pool), rng)) for name, pool in self.pools.items()}
        self.docs = {name: np.array(sorted({d for _, _, d in pool if d})) for name, pool in self.pools.items()}

    def draw(self, pool: str, rng: np.random.Generator) -> tuple[str, str, str]:
        entries = self.pools[pool]
        while True:
            cdf = self.cdf[pool]
            question = entries[min(int(np.searchsorted(cdf, rng.random() * cdf[-1])), len(entries) - 1)]
            if question[1] != "unanswerable" or rng.random() < 0.4:  # SQuAD: 80% of what is asked is answerable
                return question


def rust_questions(folder: Path, rng: np.random.Generator) -> list[str]:
    """Headings of the Rust book turned into the questions a new group of users would ask."""
    templates = ("How does {} work in Rust?", "What should I know about {}?", "Can you explain {}?",
                 "How do I use {} in Rust?")
    headings = set()
    for path in sorted(folder.glob("*.md")):
        for line in path.read_text(encoding="utf-8").splitlines():
            match = re.match(r"^#{2,3}\s+(.+)$", line)
            if match and len(match.group(1).split()) >= 3:
                headings.add(match.group(1).replace("`", "").strip())
    return [templates[rng.integers(len(templates))].format(h[0].lower() + h[1:]) for h in sorted(headings)]


def _zipf(n: int, rng: np.random.Generator) -> np.ndarray:
    w = 1.0 / (1.0 + rng.permutation(n)) ** 0.7
    return w / w.sum()


class Traffic:
    def __init__(self, shared: Path, *, seed: int, effects_at) -> None:  # type: ignore[no-untyped-def]
        self.rng = np.random.default_rng(seed)
        self.questions = Questions(shared, self.rng)
        self.effects_at = effects_at  # datetime -> Effects
        self._q: dict[str, float] = {}
        self._updates: dict[tuple[str, str], list[float]] = {}  # (tenant, doc) -> clean update times
        self._syncs: dict[str, list[float]] = {}  # tenant -> when a sync run changed its index (clean updates)
        self._start = 0.0
        self._count = 0

    def arrivals(self, tenant: Tenant, start: datetime, days: int) -> np.ndarray:
        """Epoch seconds of the tenant's requests: Poisson per minute on the diurnal curve."""
        minutes = np.arange(days * 1440)
        hour = (minutes % 1440) / 60
        gap = np.minimum(np.abs(hour - tenant.peak_hour_utc), 24 - np.abs(hour - tenant.peak_hour_utc))
        shape = 0.12 + np.exp(-0.5 * (gap / 3.5) ** 2)
        shape /= shape[:1440].mean()
        day = minutes // 1440
        weekday = (start.weekday() + day) % 7
        wobble = self.rng.lognormal(0, 0.08, days)[day]
        lam = tenant.per_day / 1440 * shape * wobble * np.where(weekday >= 5, 0.45, 1.0)
        counts = self.rng.poisson(lam)
        return start.timestamp() + np.repeat(minutes, counts) * 60 + self.rng.uniform(0, 60, counts.sum())

    def plan_updates(self, start: datetime, days: int) -> None:
        """Clean document updates: about 1% of each tenant's documents a day get a new version."""
        for tenant in TENANTS:
            docs = self.questions.docs[tenant.pool]
            n = self.rng.poisson(0.01 * len(docs) * days)
            for doc, at in zip(self.rng.choice(docs, n), start.timestamp() + self.rng.uniform(0, days * 86400, n)):
                self._updates.setdefault((tenant.name, str(doc)), []).append(float(at))
        for times in self._updates.values():
            times.sort()
        for (tenant, _), times in self._updates.items():
            self._syncs.setdefault(tenant, []).extend(times)
        for times in self._syncs.values():
            times.sort()
        self._start = start.timestamp()

    def generate(self, start: datetime, end: datetime, extra) -> Iterator[tuple[list[TraceRecord], list[Feedback]]]:  # type: ignore[no-untyped-def]
        """Batches of traces in time order (with the feedback they will get), one simulated hour at a time."""
        days = math.ceil((end - start) / timedelta(days=1))
        self.plan_updates(start, days)
        times = [(t, tenant) for tenant in TENANTS for t in self.arrivals(tenant, start, days)]
        times += extra(start, end, self.rng)  # incident traffic: [(epoch seconds, Tenant)]
        times.sort(key=lambda x: x[0])
        hour_end, batch, feedback = start.timestamp() + 3600, [], []
        for at, tenant in times:
            if at >= end.timestamp():
                break
            while at >= hour_end:
                yield batch, feedback
                batch, feedback, hour_end = [], [], hour_end + 3600
            record, fb = self.request(tenant, datetime.fromtimestamp(at, UTC))
            batch.append(record)
            if fb is not None:
                feedback.append(fb)
        yield batch, feedback

    def request(self, tenant: Tenant, at: datetime) -> tuple[TraceRecord, Feedback | None]:
        rng, fx = self.rng, self.effects_at(at)
        heavy = tenant.heavy
        pool = "rust" if rng.random() < fx.new_topic_share.get(tenant.name, 0.0) else tenant.pool
        question, kind, home = self.questions.draw(pool, rng)
        q = float(np.clip(self._quality(question, kind) + rng.normal(0, 0.05), 0.0, 1.0))
        route = "/v1/ask" if heavy or rng.random() < 0.85 else "/v1/search"
        retrieved = self._retrieve(tenant, pool, home, q, at, fx)
        reranked = tenant.reranked
        stages = {"embed": _ms(rng, 4), "keyword": _ms(rng, 2), "dense": _ms(rng, 3), "fuse": _ms(rng, 0.2)}
        if reranked:
            stages["rerank"] = round(float(rng.uniform(0.1, 0.4)), 3) if fx.reranker_down else _ms(rng, 40)
        self._count += 1
        record = TraceRecord(trace_id=f"{self._count:032x}", tenant=tenant.name, route=route, started_at=at,
                             request_id=f"req-{self._count}", stages_ms=stages, query=question, retrieved=retrieved,
                             params={"k": 5, "mode": "hybrid",
                                     "index_version": self._index_version(tenant.name, at.timestamp(), fx)})
        if route == "/v1/search":
            record.latency_ms = round(sum(stages.values()) + 3, 3)
            return record, None
        return record, self._answer(record, tenant, q, fx)

    def _quality(self, question: str, kind: str) -> float:
        if question not in self._q:
            seed = int(hashlib.blake2b(question.encode(), digest_size=8).hexdigest(), 16)
            a, b = {"answerable": (7, 2.5), "unanswerable": (2.5, 4), "novel": (1.8, 5)}[kind]
            self._q[question] = float(np.random.default_rng(seed).beta(a, b))
        return self._q[question]

    def _retrieve(self, tenant: Tenant, pool: str, home: str, q: float, at: datetime, fx: Effects
                  ) -> list[RetrievedChunk]:
        rng = self.rng
        if rng.random() < 0.005:
            return []
        docs = self.questions.docs[tenant.pool]
        chosen = ([home] if home and pool == tenant.pool else []) + [str(d) for d in rng.choice(docs, 5)]
        rerank_scale = tenant.reranked and not fx.reranker_down
        top = -4 + 10 * q + rng.normal(0, 0.8) if rerank_scale else 0.2 + 0.7 * q + rng.normal(0, 0.04)
        gaps = rng.exponential(1.2 if rerank_scale else 0.04, 5)
        out = []
        for rank, doc in enumerate(dict.fromkeys(chosen[:5]), 1):
            version = self._version(tenant.name, doc, at.timestamp(), fx)
            score = round(float(top - gaps[: rank - 1].sum()), 6)
            out.append(RetrievedChunk(rank=rank, chunk_id=f"{doc}:{rank}", doc_id=doc, doc_version=version, score=score))
        return out

    def _version(self, tenant: str, doc: str, at: float, fx: Effects) -> str:
        revision = bisect_right(self._updates.get((tenant, doc), []), at)
        stale = fx.stale_docs.get(tenant, 0.0)
        if stale and _botched(doc) and self.rng.random() >= stale:
            revision += 1  # the re-indexed version; otherwise the old chunks, still in the index
        return hashlib.sha1(f"{tenant}/{doc}/{revision}".encode()).hexdigest()

    def _index_version(self, tenant: str, at: float, fx: Effects) -> str:
        """The tenant's index as the service names it: its last sync run that changed anything, and when."""
        syncs = self._syncs.get(tenant, [])
        done = bisect_right(syncs, at)
        run, finished = 1 + done, syncs[done - 1] if done else self._start - 86400  # run 1: the first ingest
        extra = fx.reindexed.get(tenant)
        if extra is not None and extra.timestamp() <= at:
            run, finished = run + 1, max(finished, extra.timestamp())
        return f"sync-{run}@{datetime.fromtimestamp(finished, UTC):%Y-%m-%dT%H:%M:%SZ}"

    def _answer(self, record: TraceRecord, tenant: Tenant, q: float, fx: Effects) -> Feedback | None:
        rng = self.rng
        prompt = fx.prompt.get(tenant.name, tenant.prompt)
        shift = fx.confidence_shift if tenant.name in fx.prompt else 0.0
        confidence = float(np.clip(q + rng.normal(0, 0.04) - shift - (0.05 if fx.reranker_down else 0), 0, 1))
        record.prompt_name, record.prompt_version, record.model = "answer", prompt, tenant.model
        record.confidence, record.abstained = round(confidence, 6), confidence < ABSTAIN_BELOW
        called = not (record.abstained and confidence < 0.3)  # very low evidence: no model call at all
        roll = rng.random()
        if roll < 0.006:
            record.status, record.http_status, record.errors = "error", 502, ["LLMUnavailableError: every model failed"]
            record.abstained = record.confidence = None
        elif roll < 0.014:
            record.status, record.http_status, record.abstained = "cancelled", 499, None
        if called:
            heavy = tenant.heavy
            record.input_tokens = int(max(200, rng.normal(7800 if heavy else 1800, 300 if heavy else 150)))
            record.output_tokens = int(np.clip(rng.normal(140, 40), 10, 400))
            price_in, price_out = PRICES[record.model]
            record.cost_usd = (record.input_tokens * price_in + record.output_tokens * price_out) / 1e6
            record.retries = int(rng.choice(3, p=[0.965, 0.03, 0.005]))
            record.stages_ms["generate"] = _ms(rng, 800)
        record.stages_ms["check"] = _ms(rng, 5)
        record.latency_ms = round(sum(record.stages_ms.values()), 3)
        if record.status != "ok":
            return None
        if record.abstained:
            record.answer, record.abstain_reason = "I don't know: the sources do not answer this.", "low confidence"
        else:
            record.answer = "According to the sources, this is so" + (" [1]." if rng.random() < 0.93 else ".")
        if rng.random() >= 0.08:
            return None
        down = 0.4 if record.abstained else 0.04 + 0.3 * (1 - confidence)
        rating = "down" if rng.random() < min(0.95, down * fx.down_multiplier) else "up"
        given = record.started_at + timedelta(seconds=float(rng.exponential(90)) + record.latency_ms / 1000)
        return Feedback(record.trace_id, record.tenant, rating, created_at=given)


def _botched(doc: str) -> bool:
    """The 40% of documents the botched re-index touched (fixed by the document's name)."""
    return int(hashlib.md5(doc.encode()).hexdigest(), 16) % 10 < 4


def _ms(rng: np.random.Generator, median: float) -> float:
    return round(float(median * rng.lognormal(0, 0.3)), 3)
