"""A realistic corpus of any size for the scale benchmark: real text, real-embedding statistics, exact ground truth.

    python benchmarks/scale_corpus.py --seed-chunks 20000 [--cache /work/exp/scale]   # embed the seed once

    seed      passages of about 100 words from the real corpora in ../shared/data (SciFact abstracts,
              SQuAD 2.0 paragraphs, beer.stackexchange posts, the Rust book), each embedded for real
              with dayshift's local MiniLM (all-MiniLM-L6-v2); cached as seed-<n>.npz
    chunk i   seed passage i mod S, and for i >= S a light edit of it: some words dropped, two pairs
              swapped, a few replaced by words of a near passage, a marker token added
    vector i  the seed's real vector for i < S; beyond, the seed's vector moved toward one of its 10
              nearest seed passages (a mixture) plus Gaussian noise, the two sized so that the cosine
              to the seed matches what real re-embedding of light edits gives (`calibrate`, measured
              on 256 seed passages and cached), so neighbourhoods stay those of real text
    queries   real questions: the SciFact test queries and SQuAD 2.0 questions, embedded for real
    filters   group = i_doc mod 100 in metadata (group=7 keeps 1%), source s<i_doc mod 1000>/... (s007:
              0.1%)
    truth     exact top 10 by a blocked scan of every vector (`ground_truth`), per filter; cached

Everything is a pure function of (seed size, chunk count): a document's chunks and vectors are
made on demand, so a 10M-chunk stream holds one window in memory. Left out: duplicates across
documents (dedup is measured elsewhere), and vectors that real edits would move further (an
edit that changes a passage's topic).
"""

from __future__ import annotations

import argparse
import csv
import gzip
import hashlib
import html
import json
import os
import re
import sys
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

from dayshift.types import Chunk, Condition

CHUNKS_PER_DOC = 8
WORDS = 100
NEIGHBOURS = 10
FILTERS: dict[str, list[Condition]] = {
    "1%": [Condition("group", "=", 7)],
    "0.1%": [Condition("source", "=", "s007")],
}
DEFAULT_CACHE = Path(os.environ.get("DAYSHIFT_SCALE_CACHE", "/work/exp/scale"))


def shared_data() -> Path:
    return Path(os.environ.get("DAYSHIFT_SHARED_DATA", Path(__file__).resolve().parents[2] / "shared" / "data"))


# -- real text ------------------------------------------------------------------------------------


def _windows(title: str, text: str, source: str) -> Iterator[tuple[str, str, str]]:
    words = text.split()
    for start in range(0, max(len(words) - 20, 1), WORDS):
        piece = words[start : start + WORDS]
        if len(piece) >= 20:
            yield title, " ".join(piece), source


def real_passages(data: Path) -> Iterator[tuple[str, str, str]]:
    """(title, text, corpus) of about 100 words each, from four real corpora, interleaved."""
    sources = [_scifact(data), _squad(data), _beer(data), _rust_book(data)]
    while sources:
        for source in list(sources):
            item = next(source, None)
            if item is None:
                sources.remove(source)
            else:
                yield item


def _scifact(data: Path) -> Iterator[tuple[str, str, str]]:
    with gzip.open(data / "beir" / "scifact" / "corpus.jsonl.gz", "rt", encoding="utf-8") as f:
        for line in f:
            doc = json.loads(line)
            yield from _windows(doc["title"], doc["text"], "scifact")


def _squad(data: Path) -> Iterator[tuple[str, str, str]]:
    with gzip.open(data / "squad2" / "dev-v2.0-part-a.json.gz", "rt", encoding="utf-8") as f:
        articles = json.load(f)["data"]
    for article in articles:
        for paragraph in article["paragraphs"]:
            yield from _windows(article["title"].replace("_", " "), paragraph["context"], "squad2")


def _beer(data: Path) -> Iterator[tuple[str, str, str]]:
    path = data / "tabular" / "beer_stackexchange" / "posts.csv"
    with path.open(encoding="utf-8") as f:
        for row in csv.DictReader(f):
            body = html.unescape(re.sub(r"<[^>]+>", " ", row["Body"] or ""))
            yield from _windows(row["Title"] or "beer.stackexchange answer", body, "beer")


def _rust_book(data: Path) -> Iterator[tuple[str, str, str]]:
    for path in sorted((data / "markdown_rust_book").rglob("*.md")):
        text = re.sub(r"```.*?```|\{\{#[^}]*\}\}", " ", path.read_text(encoding="utf-8"), flags=re.DOTALL)
        title = next((line.lstrip("# ") for line in text.splitlines() if line.startswith("#")), path.stem)
        yield from _windows(title, re.sub(r"[#*`>|]", " ", text), "rust_book")


def real_queries(data: Path, n: int) -> list[str]:
    """Real questions: SciFact test claims and SQuAD 2.0 questions, alternating."""
    scifact = [json.loads(line)["text"] for line in (data / "beir" / "scifact" / "queries_test.jsonl").open()]
    with gzip.open(data / "squad2" / "dev-v2.0-part-a.json.gz", "rt", encoding="utf-8") as f:
        squad = [qa["question"] for a in json.load(f)["data"] for p in a["paragraphs"] for qa in p["qas"]]
    squad = squad[:: max(1, len(squad) // len(scifact))]
    mixed = [q for pair in zip(scifact, squad) for q in pair]
    return mixed[:n]


# -- the corpus -----------------------------------------------------------------------------------


@dataclass
class Seed:
    titles: list[str]
    texts: list[str]
    corpora: list[str]
    vectors: np.ndarray  # (S, 384) real MiniLM vectors, unit length
    neighbours: np.ndarray  # (S, NEIGHBOURS) nearest other seeds
    queries: list[str]
    query_vectors: np.ndarray
    mix: float  # weight toward a neighbour
    noise: float  # Gaussian noise per dimension
    calibration: dict[str, float]


def _embedder():  # type: ignore[no-untyped-def]
    from dayshift.embed.local import LocalEmbedder

    return LocalEmbedder()


def _embed(embedder, texts: Sequence[str], *, kind: str, label: str) -> np.ndarray:  # type: ignore[no-untyped-def]
    from rich.progress import Progress

    out = []
    with Progress(transient=True) as progress:
        task = progress.add_task(f"embedding {label}", total=len(texts))
        for start in range(0, len(texts), 256):
            out.append(embedder.embed(list(texts[start : start + 256]), kind=kind))
            progress.advance(task, min(256, len(texts) - start))
    return np.concatenate(out).astype(np.float32)


def load_seed(size: int, *, cache: Path = DEFAULT_CACHE, queries: int = 400) -> Seed:
    """The seed passages and their real vectors (embedded once, then read from `cache`)."""
    cache.mkdir(parents=True, exist_ok=True)
    path = cache / f"seed-{size}.npz"
    data = shared_data()
    if not data.is_dir():
        raise SystemExit(f"no shared data at {data}: set DAYSHIFT_SHARED_DATA")
    if path.exists():
        z = np.load(path, allow_pickle=False)
        meta = json.loads(str(z["meta"]))
        return Seed(meta["titles"], meta["texts"], meta["corpora"], z["vectors"], z["neighbours"], meta["queries"],
                    z["query_vectors"], meta["mix"], meta["noise"], meta["calibration"])  # fmt: skip
    passages = []
    for item in real_passages(data):
        passages.append(item)
        if len(passages) == size:
            break
    if len(passages) < size:
        raise SystemExit(f"the shared data holds {len(passages)} passages of {WORDS} words; ask for at most that")
    titles, texts, corpora = (list(x) for x in zip(*passages))
    embedder = _embedder()
    started = time.perf_counter()
    vectors = _embed(embedder, [f"{t}\n{x}" for t, x in zip(titles, texts)], kind="document", label="seed")
    print(f"embedded {size} seed passages in {time.perf_counter() - started:.0f} s", file=sys.stderr)
    qtexts = real_queries(data, queries)
    qvectors = _embed(embedder, qtexts, kind="query", label="queries")
    neighbours = _nearest_seeds(vectors)
    mix, noise, calibration = calibrate(embedder, titles, texts, vectors, neighbours)
    meta = {"titles": titles, "texts": texts, "corpora": corpora, "queries": qtexts, "mix": mix, "noise": noise,
            "calibration": calibration}  # fmt: skip
    np.savez(path, vectors=vectors, neighbours=neighbours, query_vectors=qvectors, meta=json.dumps(meta))
    return load_seed(size, cache=cache, queries=queries)


def _nearest_seeds(vectors: np.ndarray) -> np.ndarray:
    out = np.empty((len(vectors), NEIGHBOURS), dtype=np.int32)
    for start in range(0, len(vectors), 2048):
        sims = vectors[start : start + 2048] @ vectors.T
        rows = np.arange(len(sims))
        sims[rows, rows + start] = -np.inf  # not itself
        out[start : start + 2048] = np.argpartition(-sims, NEIGHBOURS, axis=1)[:, :NEIGHBOURS]
    return out


def edit_text(text: str, rng: np.random.Generator, donor: str, marker: str) -> str:
    """A light edit: ~5% of words dropped, two adjacent pairs swapped, ~3% replaced from `donor`, a marker."""
    words = [w for w in text.split() if rng.random() > 0.05]
    donors = donor.split()
    for _ in range(2):
        if len(words) > 3:
            j = int(rng.integers(0, len(words) - 1))
            words[j], words[j + 1] = words[j + 1], words[j]
    for j in range(len(words)):
        if donors and rng.random() < 0.03:
            words[j] = donors[int(rng.integers(0, len(donors)))]
    words.insert(int(rng.integers(0, len(words) + 1)), marker)
    return " ".join(words)


def calibrate(embedder, titles: list[str], texts: list[str], vectors: np.ndarray,  # type: ignore[no-untyped-def]
              neighbours: np.ndarray, *, sample: int = 256) -> tuple[float, float, dict[str, float]]:  # fmt: skip
    """(mix, noise) so that a synthetic vector's cosine to its seed matches real re-embedded light edits."""
    rng = np.random.default_rng(7)
    picks = rng.choice(len(texts), size=min(sample, len(texts)), replace=False)
    edited = [
        f"{titles[i]}\n" + edit_text(texts[i], rng, texts[neighbours[i, 0]], f"rev{int(rng.integers(1, 99))}")
        for i in picks
    ]
    real = _embed(embedder, edited, kind="document", label="calibration edits")
    target = float(np.mean(np.sum(real * vectors[picks], axis=1)))
    mix = 0.15
    best = (1.0, 0.0)
    for noise in np.linspace(0.0, 0.1, 101):
        synthetic = _synthetic(vectors, neighbours, picks, mix, float(noise), rng=np.random.default_rng(1))
        cos = float(np.mean(np.sum(synthetic * vectors[picks], axis=1)))
        if abs(cos - target) < best[0]:
            best = (abs(cos - target), float(noise))
    noise = best[1]
    synthetic = _synthetic(vectors, neighbours, picks, mix, noise, rng=np.random.default_rng(1))
    return mix, noise, {
        "real_edit_cosine_mean": round(target, 4),
        "real_edit_cosine_p10": round(float(np.quantile(np.sum(real * vectors[picks], axis=1), 0.1)), 4),
        "synthetic_cosine_mean": round(float(np.mean(np.sum(synthetic * vectors[picks], axis=1))), 4),
        "sample": len(picks),
    }


def _synthetic(vectors: np.ndarray, neighbours: np.ndarray, base: np.ndarray, mix: float, noise: float, *,
               rng: np.random.Generator) -> np.ndarray:  # fmt: skip
    partner = neighbours[base, rng.integers(0, NEIGHBOURS, size=len(base))]
    out = (1 - mix) * vectors[base] + mix * vectors[partner] + rng.normal(0, noise, size=(len(base), vectors.shape[1]))
    return (out / np.linalg.norm(out, axis=1, keepdims=True)).astype(np.float32)


class ScaleCorpus:
    """`chunks` chunks made from a seed; documents, vector blocks and ground truth on demand."""

    def __init__(self, seed: Seed, chunks: int, *, cache: Path = DEFAULT_CACHE) -> None:
        self.seed, self.chunks, self.cache = seed, chunks, cache
        self.size = len(seed.texts)

    @property
    def documents_count(self) -> int:
        return -(-self.chunks // CHUNKS_PER_DOC)

    def vectors(self, first: int, last: int) -> np.ndarray:
        """Vectors of chunks [first, last), computed (a pure function of the chunk numbers)."""
        ids = np.arange(first, last)
        out = np.empty((len(ids), self.seed.vectors.shape[1]), dtype=np.float32)
        real = ids < self.size
        out[real] = self.seed.vectors[ids[real]]
        block_rng = np.random.default_rng([first, last, 11])
        made = ids[~real]
        if len(made):
            out[~real] = _synthetic(self.seed.vectors, self.seed.neighbours, made % self.size, self.seed.mix,
                                    self.seed.noise, rng=block_rng)  # fmt: skip
        return out

    def document(self, d: int, vectors: np.ndarray | None = None) -> tuple[list[Chunk], np.ndarray]:
        first, last = d * CHUNKS_PER_DOC, min((d + 1) * CHUNKS_PER_DOC, self.chunks)
        if vectors is None:
            vectors = self.vectors(first, last)
        rng = np.random.default_rng([d, 3])
        doc_id = f"d{d}"
        source = f"s{d % 1000:03d}/doc{d}.txt"
        chunks, offset = [], 0
        for ordinal, i in enumerate(range(first, last)):
            base = i % self.size
            text = self.seed.texts[base]
            if i >= self.size:
                donor = self.seed.texts[int(self.seed.neighbours[base, 0])]
                text = edit_text(text, rng, donor, f"rev{i // self.size}")
            chunks.append(Chunk(chunk_id=f"{doc_id}:{ordinal}", doc_id=doc_id, doc_version="v1", source=source,
                                title=self.seed.titles[base], text=text, section=(), page=None, char_start=offset,
                                char_end=offset + len(text), ordinal=ordinal, ingested_at=0.0,
                                metadata={"group": d % 100, "corpus": self.seed.corpora[base]}))  # fmt: skip
            offset += len(text) + 1
        return chunks, vectors

    def documents(self, window: int = 4096) -> Iterator[tuple[list[Chunk], np.ndarray]]:
        """Every document, in order; vectors are made a window of chunks at a time."""
        for start in range(0, self.chunks, window * CHUNKS_PER_DOC):
            last = min(start + window * CHUNKS_PER_DOC, self.chunks)
            block = self.vectors(start, last)
            for d in range(start // CHUNKS_PER_DOC, -(-last // CHUNKS_PER_DOC)):
                lo = d * CHUNKS_PER_DOC - start
                yield self.document(d, block[lo : lo + CHUNKS_PER_DOC])

    def allowed(self, name: str) -> np.ndarray:
        """Chunk numbers that filter `name` keeps."""
        docs = np.arange(self.chunks) // CHUNKS_PER_DOC
        return np.flatnonzero(docs % 100 == 7) if name == "1%" else np.flatnonzero(docs % 1000 == 7)

    def ground_truth(self, *, k: int = 10, window: int = 4096) -> dict[str, np.ndarray]:
        """Exact top-k chunk numbers per query, unfiltered and under each filter (cached)."""
        key = hashlib.sha1(f"2:{self.size}:{self.chunks}:{k}:{self.seed.noise}".encode()).hexdigest()[:10]
        path = self.cache / f"truth-{self.chunks}-{key}.npz"
        if path.exists():
            return dict(np.load(path))
        q = self.seed.query_vectors
        names = ["all", *FILTERS]
        masks = {name: None if name == "all" else np.zeros(self.chunks, dtype=bool) for name in names}
        for name in FILTERS:
            masks[name][self.allowed(name)] = True  # type: ignore[index]
        best = {name: (np.full((len(q), 0), -np.inf, np.float32), np.zeros((len(q), 0), np.int64)) for name in names}
        step = window * CHUNKS_PER_DOC
        for start in range(0, self.chunks, step):
            last = min(start + step, self.chunks)
            sims = q @ self.vectors(start, last).T
            for name in names:
                mask = masks[name]
                block = sims if mask is None else np.where(mask[start:last], sims, -np.inf)
                scores = np.concatenate([best[name][0], block], axis=1)
                ids = np.concatenate([best[name][1], np.broadcast_to(np.arange(start, last), block.shape)], axis=1)
                top = np.argsort(-scores, axis=1, kind="stable")[:, :k]
                best[name] = (np.take_along_axis(scores, top, 1), np.take_along_axis(ids, top, 1))
        # A filter that keeps fewer than k chunks leaves -1 where the top k runs out.
        truth = {name: np.where(np.isfinite(best[name][0]), best[name][1], -1) for name in names}
        np.savez(path, **truth)
        return truth


def chunk_number(chunk_id: str) -> int:
    doc, ordinal = chunk_id[1:].split(":")
    return int(doc) * CHUNKS_PER_DOC + int(ordinal)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seed-chunks", type=int, default=20_000)
    parser.add_argument("--cache", type=Path, default=DEFAULT_CACHE)
    parser.add_argument("--chunks", type=int, default=0, help="also compute the ground truth for this many chunks")
    args = parser.parse_args()
    seed = load_seed(args.seed_chunks, cache=args.cache)
    corpora = {c: seed.corpora.count(c) for c in sorted(set(seed.corpora))}
    print(json.dumps({"seed": len(seed.texts), "corpora": corpora, "queries": len(seed.queries), "mix": seed.mix,
                      "noise": seed.noise, "calibration": seed.calibration}, indent=2))  # fmt: skip
    if args.chunks:
        started = time.perf_counter()
        ScaleCorpus(seed, args.chunks, cache=args.cache).ground_truth()
        print(f"ground truth for {args.chunks} chunks in {time.perf_counter() - started:.0f} s", file=sys.stderr)


if __name__ == "__main__":
    main()
