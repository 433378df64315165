"""Which runtime embeds faster here, and do their vectors agree?

    python benchmarks/embed_runtimes.py [--docs 320] [--queries 200]

Documents (SciFact abstracts, batches of 32 sorted by length) and single
queries (SciFact test claims) through each runtime of the bundled
all-MiniLM-L6-v2, in one process, against torch fp32 as the reference (equal to
transformers' BertModel, tests/unit/embed/test_minilm_encoder.py):
throughput, latency and cosine similarity to the fp32 vectors. The "workers"
rows are the torch runtimes as LocalEmbedder runs many documents
(`TorchMiniLM.embed_many`: tokenised once, batched by token count, one batch
per one-core worker thread).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
sys.path.insert(0, str(Path(__file__).parent))

import numpy as np  # noqa: E402
from _beir import load_corpus, load_queries  # noqa: E402

from dayshift.embed.base import embed_by_length  # noqa: E402
from dayshift.embed.local import OnnxMiniLM, TorchMiniLM  # noqa: E402
from dayshift.embed.minilm import int8_kernels_available  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--dataset", type=Path, default=Path("../shared/data/beir/scifact"))
    parser.add_argument("--docs", type=int, default=320)
    parser.add_argument("--queries", type=int, default=200)
    args = parser.parse_args()
    docs = [f"{d['title']}\n{d['text']}" for d in load_corpus(args.dataset, limit=args.docs)]
    queries = list(load_queries(args.dataset).values())[: args.queries]
    runtimes = {
        "torch fp32": TorchMiniLM(precision="fp32", threads=None),
        "torch bf16": TorchMiniLM(precision="bf16", threads=None),
        **({"torch bf16-int8": TorchMiniLM(precision="bf16-int8", threads=None)} if int8_kernels_available() else {}),
        "onnx int8": OnnxMiniLM(threads=None),
        "onnx int8 1t": OnnxMiniLM(threads=1),
    }
    ref_docs = embed_by_length(docs, runtimes["torch fp32"], batch_size=32, dim=384)
    ref_queries = runtimes["torch fp32"](queries)
    print(f"{'runtime':<20}{'docs/s':>9}{'cos min':>10}{'query p50 ms':>14}{'q cos min':>11}")
    for name, encode in runtimes.items():
        encode(docs[:8])
        started = time.perf_counter()
        vectors = embed_by_length(docs, encode, batch_size=32, dim=384)
        rate = len(docs) / (time.perf_counter() - started)
        latencies, qvecs = [], []
        for query in queries:
            started = time.perf_counter()
            qvecs.append(encode([query])[0])
            latencies.append(time.perf_counter() - started)
        doc_cos = float((vectors * ref_docs).sum(1).min())
        query_cos = float((np.stack(qvecs) * ref_queries).sum(1).min())
        p50 = statistics.median(latencies) * 1000
        print(f"{name:<20}{rate:>9.1f}{doc_cos:>10.5f}{p50:>14.2f}{query_cos:>11.5f}")
    for name in [name for name in runtimes if name.startswith("torch")]:
        encoder = runtimes[name]
        assert isinstance(encoder, TorchMiniLM)
        encoder.embed_many(docs[:64], batch_size=32)  # starts the workers
        started = time.perf_counter()
        vectors = encoder.embed_many(docs, batch_size=32)
        rate = len(docs) / (time.perf_counter() - started)
        doc_cos = float((vectors * ref_docs).sum(1).min())
        print(f"{name + ' workers':<20}{rate:>9.1f}{doc_cos:>10.5f}{'-':>14}{'-':>11}")


if __name__ == "__main__":
    main()
