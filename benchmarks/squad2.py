"""SQuAD 2.0: answers, and when dayshift says "I don't know", through the whole pipeline.

    python benchmarks/squad2.py --dataset ../shared/data/squad2 [--limit 400] [--json] [--rows run.jsonl] [--plot roc.png]
    python benchmarks/squad2.py --from-rows run.jsonl [--plot roc.png]      # re-score a saved run
    python benchmarks/squad2.py --model qwen2.5-coder-1.5b-instruct --excerpts 3 --cpu-variant haswell   # another setup

Two settings, each its own corpus and questions:
  out_of_corpus  half of the articles ingested; answerable questions of that
                 half must be answered, every question of the other half abstained on
  squad2         every article ingested; SQuAD 2.0's own unanswerable questions
                 (written to look answerable) must be abstained on
Every question goes through retrieval, excerpts, the bundled LLM and the
support check (the answer is always drafted, so every feature is measured).
Abstention is then fitted honestly by 2-fold cross-fitting over articles:
`dayshift calibrate`'s fit on the questions of one half of the articles,
measured on the other half, and the other way round; the test folds are pooled.
The threshold is `dayshift calibrate`'s: the lowest whose false-answer rate's
upper 95% bound on the dev fold is within 5%. The shipped default (the model
`dayshift ask` uses before any calibration, fitted on other data) is applied
as it is to the same questions: its operating point is what a new user gets.
The retrieval-only baseline -- abstain when the top dense score is below t,
t chosen on the same folds for the same 5% false-answer target -- is measured
on the same drafts. Every rate comes with its 95% interval.
"""

from __future__ import annotations

import argparse
import collections
import gzip
import json
import os
import random
import re
import string
import sys
import tempfile
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

from rich.progress import track

from dayshift.answer.abstain import DEFAULT_MODEL, Evidence
from dayshift.answer.calibrate import auroc, auroc_interval, fit_abstention, interval, threshold_for
from dayshift.answer.citations import strip_citations
from dayshift.assemble import open_answerer, open_embedder, open_ingestor
from dayshift.settings import load_settings

TARGET_FALSE_ANSWER_RATE = 0.05


def load_articles(dataset: Path) -> list[dict[str, Any]]:
    with gzip.open(dataset / "dev-v2.0-part-a.json.gz", "rt", encoding="utf-8") as handle:
        return json.load(handle)["data"]  # type: ignore[no-any-return]


def write_corpus(articles: list[dict[str, Any]], folder: Path) -> None:
    folder.mkdir(parents=True)
    for article in articles:
        body = "\n\n".join(p["context"] for p in article["paragraphs"])
        (folder / f"{article['title']}.md").write_text(f"# {article['title'].replace('_', ' ')}\n\n{body}\n")


def questions_of(article: dict[str, Any], fold: int) -> list[dict[str, Any]]:
    return [dict(q, fold=fold, article=article["title"]) for p in article["paragraphs"] for q in p["qas"]]


def settings_questions(articles: list[dict[str, Any]]) -> dict[str, tuple[list[dict[str, Any]], list[dict[str, Any]]]]:
    """setting -> (articles to ingest, questions labelled `answerable`, with a fold by article)."""
    ingested, other = articles[0::2], articles[1::2]
    ooc = [dict(q, answerable=True) for i, a in enumerate(ingested) for q in questions_of(a, i % 2)
           if not q["is_impossible"]]
    ooc += [dict(q, answerable=False) for i, a in enumerate(other) for q in questions_of(a, i % 2)]
    sq = [dict(q, answerable=not q["is_impossible"]) for i, a in enumerate(articles) for q in questions_of(a, i % 2)]
    return {"out_of_corpus": (ingested, ooc), "squad2": (articles, sq)}


def sample(questions: list[dict[str, Any]], limit: int | None, seed: int = 0) -> list[dict[str, Any]]:
    """Up to `limit` questions, half answerable, half not (all when limit is None)."""
    if not limit:
        return questions
    rng = random.Random(seed)
    pos = [q for q in questions if q["answerable"]]
    neg = [q for q in questions if not q["answerable"]]
    return rng.sample(pos, min(len(pos), limit // 2)) + rng.sample(neg, min(len(neg), limit - limit // 2))


def normalise(text: str) -> str:
    text = "".join(c for c in text.lower() if c not in string.punctuation)
    return " ".join(re.sub(r"\b(a|an|the)\b", " ", text).split())


def f1_em(prediction: str, golds: list[str]) -> tuple[float, float]:
    best_f1, best_em = 0.0, 0.0
    for gold in golds:
        p, g = normalise(prediction).split(), normalise(gold).split()
        common = sum((collections.Counter(p) & collections.Counter(g)).values())
        f1 = 0.0 if common == 0 else 2 * common / (len(p) + len(g))
        best_f1, best_em = max(best_f1, f1), max(best_em, float(normalise(prediction) == normalise(gold)))
    return best_f1, best_em


def ask_all(answerer: Any, questions: list[dict[str, Any]], *, log: bool, label: str) -> list[dict[str, Any]]:
    rows = []
    for q in track(questions, description=label, disable=not log):
        started = time.perf_counter()
        answer = answerer.ask(q["question"]).result()
        draft = strip_citations(answer.draft)
        f1, em = f1_em(draft, [a["text"] for a in q["answers"]]) if q["answerable"] else (0.0, 0.0)
        rows.append({"id": q["id"], "fold": q["fold"], "answerable": q["answerable"], "evidence": answer.evidence,
                     "f1": f1, "em": em, "seconds": time.perf_counter() - started, "draft": draft})
    return rows


def cross_fit(rows: list[dict[str, Any]], *, confidence: float | None = 0.95) -> dict[str, Any]:
    """Fit on one fold, score the other; pooled test decisions and per-fold AUROC.

    `confidence`: the threshold keeps the dev fold's false-answer upper bound within the target
    (None: its point estimate, for samples too small to show the target at 95%)."""
    decided, base_decided, aurocs, base_aurocs, margins = [], [], [], [], []
    for test_fold in (0, 1):
        dev = [r for r in rows if r["fold"] != test_fold]
        test = [r for r in rows if r["fold"] == test_fold]
        model = fit_abstention([r["evidence"] for r in dev], [r["answerable"] for r in dev],
                               target_false_answer_rate=TARGET_FALSE_ANSWER_RATE, dataset="squad2 dev fold",
                               confidence=confidence, factors=2)  # as `dayshift calibrate` fits
        labels = [r["answerable"] for r in test]
        scores = [model.confidence(r["evidence"]) for r in test]
        base_dev = threshold_for([r["evidence"].dense_top for r in dev], [r["answerable"] for r in dev],
                                 target_false_answer_rate=TARGET_FALSE_ANSWER_RATE, confidence=confidence)
        base_scores = [r["evidence"].dense_top for r in test]
        aurocs.append(auroc(scores, labels))
        base_aurocs.append(auroc(base_scores, labels))
        decided += [(r, s >= model.threshold) for r, s in zip(test, scores)]
        margins += [(s - model.threshold, b - base_dev, r["answerable"]) for r, s, b in zip(test, scores, base_scores)]
        base_decided += [(r, s >= base_dev) for r, s in zip(test, base_scores)]
    out = summarise(decided, sum(aurocs) / 2)
    # pooled test questions, each scored against its own fold's threshold
    out["abstention_auroc_interval"] = list(auroc_interval([m[0] for m in margins], [m[2] for m in margins]))
    out["baseline"] = summarise(base_decided, sum(base_aurocs) / 2)
    out["baseline_auroc"] = out["baseline"]["abstention_auroc"]
    shipped = [(r, DEFAULT_MODEL.confidence(r["evidence"]) >= DEFAULT_MODEL.threshold) for r in rows]
    out["shipped_default"] = summarise(shipped, auroc([DEFAULT_MODEL.confidence(r["evidence"]) for r in rows],
                                                      [r["answerable"] for r in rows]))
    out["_margins"] = margins  # (score - its fold's threshold) per test question, for the plot
    return out


def summarise(decided: list[tuple[dict[str, Any], bool]], mean_auroc: float) -> dict[str, Any]:
    pos = [(r, a) for r, a in decided if r["answerable"]]
    neg = [(r, a) for r, a in decided if not r["answerable"]]
    answered_pos = [r for r, a in pos if a]
    false_answers, false_abstentions = sum(a for _, a in neg), sum(not a for _, a in pos)
    return {
        "answer_f1": sum(r["f1"] for r in answered_pos) / max(len(pos), 1),
        "answer_em": sum(r["em"] for r in answered_pos) / max(len(pos), 1),
        "answer_f1_when_answered": sum(r["f1"] for r in answered_pos) / max(len(answered_pos), 1),
        "draft_f1": sum(r["f1"] for r, _ in pos) / max(len(pos), 1),
        "false_answer_rate": false_answers / max(len(neg), 1),
        "false_answer_interval": list(interval(false_answers, len(neg))),
        "false_abstention_rate": false_abstentions / max(len(pos), 1),
        "false_abstention_interval": list(interval(false_abstentions, len(pos))),
        "abstention_auroc": mean_auroc,
        "answerable": len(pos), "unanswerable": len(neg),
    }


def shared_models_dir(overrides: dict[str, Any] | None) -> dict[str, Any]:
    """Readers are joined once, in the models folder of the settings this runs under (not per index)."""
    overrides = {**(overrides or {})}
    llm = {**overrides.get("llm", {})}
    llm.setdefault("models_dir", load_settings().llm.models_dir)
    overrides["llm"] = llm
    return overrides


def run(
    dataset: Path, *, limit: int | None, log: bool, rows_out: Path | None = None, overrides: dict[str, Any] | None = None,
    confidence: float | None = 0.95,
) -> dict[str, Any]:
    work = Path(tempfile.mkdtemp(prefix="dayshift-squad2-"))
    overrides = shared_models_dir(overrides)
    results: dict[str, Any] = {}
    for name, (articles, questions) in settings_questions(load_articles(dataset)).items():
        write_corpus(articles, work / name / "corpus")
        settings = load_settings(data_dir=work / name / "index", **overrides)
        embedder = open_embedder(settings)
        open_ingestor(settings, embedder=embedder).sync(work / name / "corpus")
        answerer = open_answerer(settings, embedder=embedder, abstain_threshold=0.0)  # draft every answer
        rows = ask_all(answerer, sample(questions, limit), log=log, label=name)
        if rows_out is not None:
            with rows_out.open("a", encoding="utf-8") as handle:
                for r in rows:
                    handle.write(json.dumps(dict(r, setting=name, evidence=asdict(r["evidence"]))) + "\n")
        results[name] = cross_fit(rows, confidence=confidence)
        results[name]["seconds_per_question"] = sum(r["seconds"] for r in rows) / len(rows)
    return results


def plot(results: dict[str, Any], path: Path) -> None:
    """False-answer rate against false-abstention rate as the threshold moves, per setting."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    fig, axes = plt.subplots(1, len(results), figsize=(5.5 * len(results), 4.6), squeeze=False)
    for ax, (name, r) in zip(axes[0], results.items()):
        m = np.array([(a, b) for a, b, _ in r["_margins"]])
        y = np.array([lab for _, _, lab in r["_margins"]], dtype=bool)
        for column, label in ((0, f"dayshift (AUROC {r['abstention_auroc']:.3f})"),
                              (1, f"top dense score (AUROC {r['baseline_auroc']:.3f})")):
            cuts = np.unique(m[:, column])
            far = [(m[~y, column] >= t).mean() for t in cuts]
            fab = [(m[y, column] < t).mean() for t in cuts]
            ax.plot(fab, far, label=label)
        ax.scatter([r["false_abstention_rate"]], [r["false_answer_rate"]], color="C0", zorder=3,
                   label="dayshift at its calibrated threshold")
        if name == "out_of_corpus":
            ax.axhline(0.05, color="grey", lw=0.8, ls="--")
            ax.axvline(0.20, color="grey", lw=0.8, ls="--")
        ax.set(title=name, xlabel="false abstention rate (answerable, abstained)",
               ylabel="false answer rate (unanswerable, answered)", xlim=(0, 1), ylim=(0, 1))
        ax.legend(loc="upper right", fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def from_rows(path: Path, *, confidence: float | None = 0.95) -> dict[str, Any]:
    """Re-score a saved run (--rows): the same cross-fitting, without asking the model again."""
    by_setting: dict[str, list[dict[str, Any]]] = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        row = json.loads(line)
        row["evidence"] = Evidence(**row["evidence"])
        by_setting.setdefault(row["setting"], []).append(row)
    results = {}
    for name, rows in by_setting.items():
        results[name] = cross_fit(rows, confidence=confidence)
        results[name]["seconds_per_question"] = sum(r["seconds"] for r in rows) / len(rows)
    return results


def table(results: dict[str, Any]) -> str:
    keys = ["answer_f1", "answer_em", "false_answer_rate", "false_abstention_rate", "abstention_auroc"]
    lines = [f"{'setting':<15}{'method':<16}" + "".join(f"{k:>23}" for k in keys)]
    for name, r in results.items():
        for method, values in (("dayshift", r), ("shipped default", r["shipped_default"]), ("top-score", r["baseline"])):
            lines.append(f"{name:<15}{method:<16}" + "".join(f"{values[k]:>23.3f}" for k in keys))
        far, fab, roc = r["false_answer_interval"], r["false_abstention_interval"], r["abstention_auroc_interval"]
        lines.append(f"{'':<15}95% intervals: false answers {far[0]:.3f}-{far[1]:.3f}, false abstentions "
                     f"{fab[0]:.3f}-{fab[1]:.3f}, AUROC {roc[0]:.3f}-{roc[1]:.3f}")
        lines.append(f"{'':<15}{r['answerable']} answerable, {r['unanswerable']} unanswerable test questions; "
                     f"draft F1 {r['draft_f1']:.3f}; {r['seconds_per_question']:.2f} s per question")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dataset", type=Path, default=Path("../shared/data/squad2"))
    parser.add_argument("--limit", type=int, default=400, help="questions per setting, half answerable; 0 = all")
    parser.add_argument("--model", help="the local reader (llm.model): a reader name or a .gguf path")
    parser.add_argument("--excerpts", type=int, help="excerpts per prompt (answer.excerpts)")
    parser.add_argument("--cpu-variant", help="llama.cpp CPU kernels to force (llm.cpu_variant), e.g. haswell")
    parser.add_argument("--threshold-rule", choices=("upper", "point"), default="upper",
                        help="thresholds keep the false-answer rate's upper 95%% bound within 5%% (default), or its "
                             "point estimate (for samples under ~120 unanswerable questions per fold)")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--rows", type=Path, help="also write every question's evidence and draft here (JSONL)")
    parser.add_argument("--plot", type=Path, help="draw the abstention trade-off curves to this PNG")
    parser.add_argument("--from-rows", type=Path, help="re-score a run saved with --rows instead of running one")
    args = parser.parse_args()
    confidence = 0.95 if args.threshold_rule == "upper" else None
    if args.from_rows:
        results = from_rows(args.from_rows, confidence=confidence)
    else:
        overrides: dict[str, Any] = {}
        llm = {k: v for k, v in (("model", args.model), ("cpu_variant", args.cpu_variant)) if v}
        if llm:
            overrides["llm"] = llm
        if args.excerpts is not None:
            overrides["answer"] = {"excerpts": args.excerpts}
        results = run(args.dataset, limit=args.limit or None, log=not args.json, rows_out=args.rows,
                      overrides=overrides, confidence=confidence)
    if args.plot:
        plot(results, args.plot)
    for r in results.values():
        del r["_margins"]
    print(json.dumps(results, indent=2) if args.json else table(results))


if __name__ == "__main__":
    sys.exit(main())
