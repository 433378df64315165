"""LlamaIndex's default hybrid retrieval on one BEIR dataset: the peer column of benchmarks/beir.py.

    <venv>/bin/python benchmarks/peers/llamaindex_beir.py --dataset DIR --model MODEL_DIR [--cache-dir DIR]

Runs in its own virtualenv (llama-index-core, llama-index-retrievers-bm25, llama-index-embeddings-huggingface;
see benchmarks/datasets/README.md), never in dayshift's. The pipeline is the one LlamaIndex's documentation
shows for hybrid search, with its defaults:

    Document(text, metadata={"title"}) --SentenceSplitter (1,024 tokens, overlap 200)--> nodes
    nodes --HuggingFaceEmbedding(all-MiniLM-L6-v2, the same files dayshift ships)--> VectorStoreIndex
    BM25Retriever.from_defaults(nodes, English stemmer)          (bm25s)
    QueryFusionRetriever([vector, bm25], mode="reciprocal_rerank", num_queries=1)   (no LLM: one query)

Each mode retrieves the top 100 nodes; documents rank at their best node and are scored by benchmarks/_beir.py
exactly as dayshift's are (the query's own id dropped). Node vectors are cached under --cache-dir by a hash of
the node texts, so a re-run does not embed the corpus again. Prints one JSON object.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
import os
import sys
import time
from pathlib import Path

os.environ["HF_HUB_OFFLINE"] = "1"
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
sys.path.insert(0, str(Path(__file__).parents[1]))

from _beir import beir_ranking, load_corpus, load_qrels, load_queries, median_ms, ndcg_at, percentile_ms, recall_at

K = 100


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dataset", type=Path, required=True)
    parser.add_argument("--model", type=Path, required=True, help="folder of all-MiniLM-L6-v2 (sentence-transformers)")
    parser.add_argument("--cache-dir", type=Path, default=None, help="keep node vectors here between runs")
    parser.add_argument("--limit", type=int, default=None)
    args = parser.parse_args()
    logging.disable(logging.WARNING)
    print(json.dumps(run(args.dataset, model=args.model, cache_dir=args.cache_dir, limit=args.limit)))


def run(dataset: Path, *, model: Path, cache_dir: Path | None, limit: int | None) -> dict[str, object]:
    import Stemmer
    from llama_index.core import Document, Settings, VectorStoreIndex
    from llama_index.core.node_parser import SentenceSplitter
    from llama_index.core.retrievers import QueryFusionRetriever
    from llama_index.core.schema import MetadataMode
    from llama_index.embeddings.huggingface import HuggingFaceEmbedding
    from llama_index.retrievers.bm25 import BM25Retriever

    corpus = load_corpus(dataset, limit=limit)
    queries = load_queries(dataset)
    qrels = load_qrels(dataset, corpus_ids={d["_id"] for d in corpus})
    Settings.llm = None
    embed_model = HuggingFaceEmbedding(model_name=str(model), device="cpu")
    Settings.embed_model = embed_model
    documents = [Document(text=d["text"], doc_id=d["_id"], metadata={"title": d.get("title", "")}) for d in corpus]
    nodes = SentenceSplitter().get_nodes_from_documents(documents)
    started = time.perf_counter()
    _embed_nodes(nodes, embed_model, cache_dir=cache_dir, mode=MetadataMode.EMBED)
    embed_s = time.perf_counter() - started
    index = VectorStoreIndex(nodes, embed_model=embed_model)
    retrievers = {
        "keyword": BM25Retriever.from_defaults(nodes=nodes, similarity_top_k=K, stemmer=Stemmer.Stemmer("english"),
                                               language="english"),
        "dense": index.as_retriever(similarity_top_k=K),
    }
    retrievers["hybrid"] = QueryFusionRetriever(
        [retrievers["dense"], retrievers["keyword"]], similarity_top_k=K, num_queries=1,
        mode="reciprocal_rerank", use_async=False,
    )  # fmt: skip
    out: dict[str, object] = {"documents": len(corpus), "nodes": len(nodes), "embed_s": round(embed_s, 1)}
    for mode, retriever in retrievers.items():
        out[mode] = _evaluate(retriever, queries, qrels)
    return out


def _embed_nodes(nodes, embed_model, *, cache_dir: Path | None, mode) -> None:  # type: ignore[no-untyped-def]
    import numpy as np

    texts = [n.get_content(metadata_mode=mode) for n in nodes]
    key = hashlib.blake2b("\x00".join(texts).encode(), digest_size=12).hexdigest()
    path = cache_dir / f"llamaindex-{key}.npy" if cache_dir else None
    if path is not None and path.exists():
        vectors = np.load(path)
    else:
        vectors = np.asarray(embed_model.get_text_embedding_batch(texts), dtype=np.float32)
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
            np.save(path, vectors)
    for node, vector in zip(nodes, vectors.tolist()):
        node.embedding = vector


def _evaluate(retriever, queries, qrels) -> dict[str, float]:  # type: ignore[no-untyped-def]
    ndcgs, recalls, latencies = [], [], []
    for query_id, relevant in qrels.items():
        if query_id not in queries:
            continue
        started = time.perf_counter()
        found = retriever.retrieve(queries[query_id])
        latencies.append(time.perf_counter() - started)
        ranked = beir_ranking((n.node.ref_doc_id for n in found), query_id=query_id)
        ndcgs.append(ndcg_at(ranked, relevant))
        recalls.append(recall_at(ranked, relevant))
    return {
        "ndcg_at_10": round(sum(ndcgs) / len(ndcgs), 4),
        "recall_at_100": round(sum(recalls) / len(recalls), 4),
        "query_p50_ms": round(median_ms(latencies), 2),
        "query_p99_ms": round(percentile_ms(latencies, 99), 2),
        "queries": len(latencies),
    }


if __name__ == "__main__":
    main()
