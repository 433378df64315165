"""SciFact end to end: production retrieval against re-rankers trained on qrels and on synthetic queries.

    python benchmarks/finetune.py [--json] [--work DIR] [--max-minutes 20] [--synthetic-docs 600]

One process, in this order (every step cached under --work, so a stopped run picks up where it was):
 1. index: the SciFact corpus through the whole ingest pipeline (--cache-dir: reuse embeddings);
 2. candidates: production hybrid retrieval, per document, for every train and test query;
 3. production: nDCG@10 / recall@10 / MRR of those lists on the 300 test queries;
 4. qrels run: a cross-encoder from the bundled MiniLM, trained on the 809 train queries' qrels
    (hard negatives: production's top non-relevant documents), 10% of the queries held out for
    validation (early stopping, the overfitting alarm, and the blend weight: blend.py);
 5. synthetic run: doc2query with the local reader over --synthetic-docs corpus documents, kept only
    when the question retrieves its own document; no qrels used at all;
 6. overfit run: 12 training queries, many epochs: the alarm must flag it and stop it early;
 7. latency: re-ranking cost at k = 20, 50, 100 on --latency-queries test queries; k is chosen
    on the validation queries (the smallest k within 0.002 nDCG@10 of the best).
Test queries are used only in 3 and in the final scores; nothing is fitted on them.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import sys
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
sys.path.insert(0, str(Path(__file__).parent))

import numpy as np
from _beir import load_corpus

from dayshift.finetune.data.examples import TrainingExample, data_hash, split_examples, write_examples
from dayshift.finetune.train_reranker.blend import RankedQuery, blend, fit_weight, ndcg_at_10

SEED = 13
K_GRID = (10, 20, 50)


def say(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def load_split(dataset: Path, split: str) -> dict[str, dict[str, int]]:
    qrels: dict[str, dict[str, int]] = {}
    for line in (dataset / "qrels" / f"{split}.tsv").read_text(encoding="utf-8").splitlines()[1:]:
        qid, did, score = line.split("\t")
        qrels.setdefault(qid, {})[did] = int(score)
    return qrels


def load_all_queries(dataset: Path) -> dict[str, str]:
    with (dataset / "queries.jsonl").open(encoding="utf-8") as handle:
        return {q["_id"]: q["text"] for q in map(json.loads, handle) if q}


def build_index(dataset: Path, work: Path, cache_dir: Path | None) -> Any:
    from dayshift.embed.cache import CACHE_FILE
    from dayshift.settings import load_settings

    settings = load_settings(data_dir=work / "index")
    if (work / "index" / "ready").exists():
        return settings
    if (work / "index").exists():
        shutil.rmtree(work / "index")
    from dayshift.assemble import open_ingestor

    corpus = load_corpus(dataset)
    export = work / "export" / "corpus.jsonl"
    export.parent.mkdir(parents=True, exist_ok=True)
    export.write_text("".join(json.dumps(d) + "\n" for d in corpus), encoding="utf-8")
    settings.data_dir.mkdir(parents=True)
    cached = cache_dir / "scifact" / CACHE_FILE if cache_dir else None
    if cached and cached.exists():
        shutil.copyfile(cached, settings.data_dir / CACHE_FILE)
    say(f"ingesting {len(corpus)} documents ...")
    report = open_ingestor(settings).sync(export.parent, name="scifact")
    if not report.ok:
        raise SystemExit(f"ingest failed: {report.counts()}")
    (work / "index" / "ready").write_text("ok")
    return settings


def candidates(settings: Any, queries: dict[str, str], *, depth: int, work: Path) -> dict[str, list[list[Any]]]:
    """qid -> [[doc_id, first-stage score, text], ...] of production hybrid document search, cached."""
    path = work / f"candidates-{depth}.json"
    cached: dict[str, list[list[Any]]] = json.loads(path.read_text()) if path.exists() else {}
    todo = [q for q in queries if q not in cached]
    if todo:
        from dayshift.assemble import open_retriever

        retriever = open_retriever(settings)
        say(f"production retrieval for {len(todo)} queries ...")
        for n, qid in enumerate(todo, 1):
            hits = retriever.search(queries[qid], k=depth, per_document=True).hits
            cached[qid] = [[h.chunk.metadata.get("_id", h.chunk.doc_id.split("#")[-1]), h.score,
                            h.chunk.indexed_text] for h in hits if h.chunk.metadata.get("_id") != qid]  # fmt: skip
            if n % 100 == 0:
                path.write_text(json.dumps(cached))
        path.write_text(json.dumps(cached))
    return cached


def metrics(ranked: list[str], relevant: dict[str, int]) -> dict[str, float]:
    import math

    dcg = sum(relevant.get(d, 0) / math.log2(i + 2) for i, d in enumerate(ranked[:10]))
    ideal = sum(g / math.log2(i + 2) for i, g in enumerate(sorted(relevant.values(), reverse=True)[:10]))
    first = next((i for i, d in enumerate(ranked[:10]) if relevant.get(d, 0) > 0), None)
    wanted = {d for d, g in relevant.items() if g > 0}
    return {"ndcg_at_10": dcg / ideal if ideal else 0.0, "recall_at_10": len(wanted & set(ranked[:10])) / len(wanted),
            "mrr_at_10": 0.0 if first is None else 1.0 / (first + 1)}  # fmt: skip


def mean(rows: list[dict[str, float]]) -> dict[str, float]:
    return {k: round(float(np.mean([r[k] for r in rows])), 4) for k in rows[0]} if rows else {}


def qrels_examples(qrels: dict[str, dict[str, int]], queries: dict[str, str], cands: dict[str, list[list[Any]]],
                   docs: dict[str, str], *, negatives: int = 3) -> list[TrainingExample]:  # fmt: skip
    out = []
    for qid, relevant in sorted(qrels.items()):
        hard = [(d, t) for d, _, t in cands.get(qid, []) if d not in relevant][:negatives]
        for did in relevant:
            if did in docs:
                out.append(TrainingExample(
                    query=queries[qid], positive=docs[did], positive_id=did, negatives=tuple(t for _, t in hard),
                    negative_ids=tuple(d for d, _ in hard), source="qrels", origin={"query_id": qid}))
    return out


def score_lists(model_dir: Path, lists: dict[str, tuple[str, list[list[Any]]]], *, k: int, max_length: int
                ) -> dict[str, np.ndarray]:  # fmt: skip
    """qid -> cross-encoder scores of the first k candidates."""
    from dayshift.retrieve.rerank_cross_encoder import CrossEncoderReranker

    ce = CrossEncoderReranker(model_path=model_dir, max_length=max_length, batch_size=32)
    out = {}
    started = time.perf_counter()
    for n, (qid, (query, cands)) in enumerate(lists.items(), 1):
        out[qid] = ce.scores(query, [t for _, _, t in cands[:k]])
        if n % 25 == 0:
            say(f"  scored {n}/{len(lists)} queries ({time.perf_counter() - started:.0f} s)")
    return out


def ranked_queries(lists: dict[str, tuple[str, list[list[Any]]]], scores: dict[str, np.ndarray],
                   qrels: dict[str, dict[str, int]], *, k: int) -> dict[str, RankedQuery]:  # fmt: skip
    out = {}
    for qid, (_, cands) in lists.items():
        top = cands[:k]
        out[qid] = RankedQuery(first_stage=np.array([s for _, s, _ in top]), cross=scores[qid][:k],
                               gains=np.array([qrels[qid].get(d, 0) for d, _, _ in top], dtype=np.float64),
                               ideal_gains=tuple(float(g) for g in qrels[qid].values() if g > 0))  # fmt: skip
    return out


def evaluate_model(name: str, run: Any, *, val_lists: dict, test_lists: dict, qrels_val: dict, qrels_test: dict,
                   max_length: int, k_grid: tuple[int, ...]) -> dict[str, Any]:  # fmt: skip
    """Blend weight and k chosen on validation; nDCG@10 etc. on test at that (k, weight)."""
    kmax = max(k_grid)
    say(f"{name}: scoring {len(val_lists)} validation queries at k={kmax} ...")
    val_scores = score_lists(run.model_dir, val_lists, k=kmax, max_length=max_length)
    by_k = {}
    for k in k_grid:
        weight, table = fit_weight(list(ranked_queries(val_lists, val_scores, qrels_val, k=k).values()))
        by_k[k] = (weight, table[weight], table)
    best = max(v[1] for v in by_k.values())
    k = min(kk for kk, v in by_k.items() if v[1] >= best - 0.002)
    weight = by_k[k][0]
    say(f"{name}: chose k={k}, weight={weight} on validation; scoring {len(test_lists)} test queries ...")
    test_scores = score_lists(run.model_dir, test_lists, k=k, max_length=max_length)
    rows, pure = [], []
    for qid, q in ranked_queries(test_lists, test_scores, qrels_test, k=k).items():
        cands = test_lists[qid][1]
        order = list(np.argsort(-blend(q.first_stage, q.cross, weight=weight), kind="stable"))
        ranked = [cands[i][0] for i in order] + [d for d, _, _ in cands[k:]]
        rows.append(metrics(ranked, qrels_test[qid]))
        pure.append(ndcg_at_10(list(np.argsort(-q.cross, kind="stable")), q))
    return {"k": k, "blend_weight": weight, "validation": {str(kk): {"weight": v[0], "ndcg_at_10": round(v[1], 4)}
                                                           for kk, v in by_k.items()},
            "test": mean(rows), "test_pure_cross_encoder_ndcg_at_10": round(float(np.mean(pure)), 4),
            "run": {"minutes": round(run.minutes, 2), "steps": run.steps, "stop_reason": run.stop_reason,
                    "best_step": run.best_step, "overfit_flagged": run.overfit.flagged, "data_hash": run.data_hash,
                    "train_pairs": run.train_pairs, "curve_png": str(run.curve_png)}}  # fmt: skip


def train(name: str, examples: list[TrainingExample], work: Path, *, config: Any) -> Any:
    from dayshift.finetune.tracking import open_tracker
    from dayshift.finetune.train_reranker import train_reranker
    from dayshift.finetune.train_reranker.trainer import TrainingRun

    run_dir = work / "runs" / name
    if (run_dir / "run.json").exists():
        data = json.loads((run_dir / "run.json").read_text())
        from dayshift.finetune.tracking import OverfitVerdict

        say(f"{name}: reusing the trained run in {run_dir}")
        return TrainingRun(model_dir=Path(data["model_dir"]), run_dir=run_dir, base_model=data["base_model"],
                           data_hash=data["data_hash"], train_pairs=data["train_pairs"],
                           validation_pairs=data["validation_pairs"], steps=data["steps"], minutes=data["minutes"],
                           best_step=data["best_step"], best_validation_loss=data["best_validation_loss"],
                           stop_reason=data["stop_reason"], overfit=OverfitVerdict(**data["overfit"]),
                           curve_png=Path(data["curve_png"]), tracker_run_id=data["tracker_run_id"])  # fmt: skip
    tr, val = split_examples(examples, validation_share=0.1, seed=SEED)
    write_examples(run_dir / "train.jsonl", tr)
    write_examples(run_dir / "validation.jsonl", val)
    say(f"{name}: training on {len(tr)} examples, {len(val)} for validation (data {data_hash(examples)[:12]}) ...")
    tracker = open_tracker("mlflow", data_dir=work, experiment="benchmark-finetune", run_name=name,
                           params={"examples": len(examples)})  # fmt: skip
    run = train_reranker(tr, val, config=config, run_dir=run_dir, tracker=tracker, progress=sys.stderr.isatty())
    tracker.finish()
    say(f"{name}: {run.steps} steps in {run.minutes:.1f} min, stop: {run.stop_reason}, overfit: {run.overfit.reason}")
    return run


def synthetic(settings: Any, corpus: list[dict[str, str]], *, n_docs: int, work: Path, reader: str
              ) -> list[TrainingExample]:  # fmt: skip
    from dayshift.finetune.data.examples import read_examples
    from dayshift.finetune.data.synthetic import Passage, SyntheticReport, synthetic_examples

    path = work / f"synthetic-{n_docs}.jsonl"
    if path.exists():
        return read_examples(path)
    from dayshift.assemble import open_llm, open_retriever
    from dayshift.llm.base import ChatRequest, Message
    from dayshift.settings import load_settings

    llm = open_llm(load_settings(data_dir=settings.data_dir, llm={"model": reader}))
    retriever = open_retriever(settings)
    sample = random.Random(SEED).sample(corpus, n_docs)
    passages = [Passage(doc_id=d["_id"], chunk_id=d["_id"], text=f"{d['title']}\n{d['text']}") for d in sample]

    def draft(prompt: str) -> str:
        return llm.complete(ChatRequest(messages=(Message(role="user", content=prompt),), max_tokens=48)).text

    def search(query: str) -> list[tuple[str, str]]:
        return [(h.chunk.metadata.get("_id", h.chunk.doc_id), h.chunk.indexed_text)
                for h in retriever.search(query, k=10, per_document=True).hits]  # fmt: skip

    report = SyntheticReport()
    out = []
    started = time.perf_counter()
    for example in synthetic_examples(passages, draft=draft, search=search, report=report,
                                      on_passage=lambda: None):  # fmt: skip
        out.append(example)
        if report.drafted % 50 == 0:
            say(f"  doc2query {report.drafted}/{n_docs}: kept {report.kept} ({time.perf_counter() - started:.0f} s)")
    write_examples(path, out)
    (work / f"synthetic-{n_docs}.report.json").write_text(json.dumps(
        {"drafted": report.drafted, "kept": report.kept, "unusable": report.unusable, "not_found": report.not_found,
         "seconds": round(time.perf_counter() - started, 1)}))  # fmt: skip
    say(f"doc2query: {report.kept} of {report.drafted} kept ({report.unusable} not questions, "
        f"{report.not_found} did not find their document)")
    return out


def latency(model_dir: Path, test_lists: dict, *, n: int, max_length: int) -> dict[str, float]:
    from dayshift.retrieve.rerank_cross_encoder import CrossEncoderReranker

    ce = CrossEncoderReranker(model_path=model_dir, max_length=max_length, batch_size=32)
    out = {}
    items = list(test_lists.values())[:n]
    ce.scores("warm up", ["warm up"] * 4)
    for k in (20, 50, 100):
        times = []
        for query, cands in items:
            started = time.perf_counter()
            ce.scores(query, [t for _, _, t in cands[:k]])
            times.append(time.perf_counter() - started)
        out[f"rerank_ms_p50_k{k}"] = round(float(np.median(times)) * 1000.0, 1)
    return out


def main() -> None:
    from dayshift.finetune.train_reranker import RerankerConfig

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dataset", type=Path, default=Path("../shared/data/beir/scifact"))
    parser.add_argument("--work", type=Path, default=Path("/tmp/dayshift-finetune-bench"))
    parser.add_argument("--cache-dir", type=Path, default=None, help="beir.py's --cache-dir: reuse its embeddings")
    parser.add_argument("--max-minutes", type=float, default=20.0, help="budget per training run")
    parser.add_argument("--synthetic-docs", type=int, default=600)
    parser.add_argument("--reader", default="smollm2-135m-instruct", help="the local reader drafting questions")
    parser.add_argument("--max-length", type=int, default=160)
    parser.add_argument("--test-queries", type=int, default=None, help="only the first N test queries (quick runs)")
    parser.add_argument("--latency-queries", type=int, default=10)
    parser.add_argument("--skip", default="", help="comma list of steps to skip: qrels,synthetic,overfit,latency")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    skip = set(filter(None, args.skip.split(",")))
    args.work.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    settings = build_index(args.dataset, args.work, args.cache_dir)
    queries = load_all_queries(args.dataset)
    train_qrels, test_qrels = load_split(args.dataset, "train"), load_split(args.dataset, "test")
    if args.test_queries:
        test_qrels = dict(sorted(test_qrels.items())[: args.test_queries])
    corpus = load_corpus(args.dataset)
    docs = {d["_id"]: f"{d['title']}\n{d['text']}" for d in corpus}
    cands = candidates(settings, {q: queries[q] for q in [*train_qrels, *test_qrels]}, depth=100, work=args.work)
    test_lists = {q: (queries[q], cands[q]) for q in sorted(test_qrels)}
    production = mean([metrics([d for d, _, _ in test_lists[q][1]], test_qrels[q]) for q in test_lists])
    say(f"production on {len(test_lists)} test queries: {production}")
    config = RerankerConfig(max_minutes=args.max_minutes, max_length=args.max_length, seed=SEED)
    out: dict[str, Any] = {"production": production, "production_ndcg_at_10": production["ndcg_at_10"],
                           "test_queries": len(test_lists), "max_length": args.max_length}  # fmt: skip
    trained: dict[str, Any] = {}
    if "qrels" not in skip:
        examples = qrels_examples(train_qrels, queries, cands, docs)
        run = train("qrels", examples, args.work, config=config)
        val_ids = {e.origin["query_id"] for e in _validation(args.work / "runs" / "qrels")}
        val_lists = {q: (queries[q], cands[q]) for q in sorted(val_ids)}
        trained["qrels"] = evaluate_model("qrels", run, val_lists=val_lists, test_lists=test_lists,
                                          qrels_val=train_qrels, qrels_test=test_qrels, max_length=args.max_length,
                                          k_grid=K_GRID)  # fmt: skip
        out["trained_qrels_ndcg_at_10"] = trained["qrels"]["test"]["ndcg_at_10"]
    if "synthetic" not in skip:
        examples = synthetic(settings, corpus, n_docs=args.synthetic_docs, work=args.work, reader=args.reader)
        run = train("synthetic", examples, args.work, config=config)
        # validation: held-out synthetic questions, their own document the one relevant (no qrels anywhere)
        val = _validation(args.work / "runs" / "synthetic")
        val_lists, val_qrels = {}, {}
        for i, e in enumerate(val):
            key = f"synthetic-{i}"
            val_lists[key] = (e.query, [[e.positive_id, 1.0, e.positive]] + [[d, 0.0, t] for d, t in
                                                                            zip(e.negative_ids, e.negatives)])  # fmt: skip
            val_qrels[key] = {e.positive_id: 1}
        val_lists = _with_production_scores(settings, val_lists)
        trained["synthetic"] = evaluate_model("synthetic", run, val_lists=val_lists, test_lists=test_lists,
                                              qrels_val=val_qrels, qrels_test=test_qrels,
                                              max_length=args.max_length, k_grid=K_GRID)  # fmt: skip
        out["trained_synthetic_ndcg_at_10"] = trained["synthetic"]["test"]["ndcg_at_10"]
    if "overfit" not in skip:
        tiny = qrels_examples(dict(sorted(train_qrels.items())[:14]), queries, cands, docs)
        tiny_config = RerankerConfig(max_minutes=args.max_minutes, max_length=args.max_length, seed=SEED, epochs=40,
                                     batch_size=8, eval_every=4, patience=4, learning_rate=1e-4)  # fmt: skip
        run = train("overfit", tiny, args.work, config=tiny_config)
        out["overfit_run_flagged"] = run.overfit.flagged
        out["overfit_run"] = {"stop_reason": run.stop_reason, "steps": run.steps, "best_step": run.best_step,
                              "reason": run.overfit.reason, "curve_png": str(run.curve_png),
                              "minutes": round(run.minutes, 2)}  # fmt: skip
    if "latency" not in skip and trained:
        name = "qrels" if "qrels" in trained else "synthetic"
        lat = latency(args.work / "runs" / name / "model", test_lists, n=args.latency_queries,
                      max_length=args.max_length)  # fmt: skip
        out["rerank_latency"] = lat
        chosen = trained[name]["k"]
        out["rerank_ms_p50"] = lat.get(f"rerank_ms_p50_k{chosen}", lat["rerank_ms_p50_k20"])
    out["trained"] = trained
    out["minutes"] = {name: t["run"]["minutes"] for name, t in trained.items()}
    if "overfit_run" in out:
        out["minutes"]["overfit"] = out["overfit_run"]["minutes"]
    out["total_minutes"] = round((time.perf_counter() - started) / 60.0, 1)
    (args.work / "result.json").write_text(json.dumps(out, indent=2))
    print(json.dumps(out, indent=2) if args.json else _table(out))


def _validation(run_dir: Path) -> list[TrainingExample]:
    from dayshift.finetune.data.examples import read_examples

    return read_examples(run_dir / "validation.jsonl")


def _with_production_scores(settings: Any, lists: dict) -> dict:
    """Synthetic validation lists in production's order and scores (the first stage the blend mixes with)."""
    from dayshift.assemble import open_retriever

    retriever = open_retriever(settings)
    out = {}
    for key, (query, _) in lists.items():
        hits = retriever.search(query, k=50, per_document=True).hits
        out[key] = (query, [[h.chunk.metadata.get("_id", h.chunk.doc_id), h.score, h.chunk.indexed_text]
                            for h in hits])  # fmt: skip
    return out


def _table(out: dict[str, Any]) -> str:
    lines = [f"{'model':<22}{'nDCG@10':>9}{'R@10':>8}{'MRR@10':>8}{'k':>5}{'blend':>7}{'minutes':>9}"]
    p = out["production"]
    lines.append(f"{'production (hybrid)':<22}{p['ndcg_at_10']:>9.4f}{p['recall_at_10']:>8.4f}{p['mrr_at_10']:>8.4f}")
    for name, t in out["trained"].items():
        m = t["test"]
        lines.append(f"{'+ reranker ' + name:<22}{m['ndcg_at_10']:>9.4f}{m['recall_at_10']:>8.4f}"
                     f"{m['mrr_at_10']:>8.4f}{t['k']:>5}{t['blend_weight']:>7.1f}{t['run']['minutes']:>9.1f}")  # fmt: skip
    lines.append("")
    for key in ("rerank_ms_p50", "rerank_latency", "overfit_run_flagged", "overfit_run", "test_queries", "total_minutes"):
        if key in out:
            lines.append(f"{key}: {out[key]}")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
