"""Fit the shipped default abstention model on SQuAD 2.0 *train* articles, never on the questions it is reported on.

    python benchmarks/fit_default_abstention.py --train train-v2.0.json [--limit 600] [--rows fit.jsonl] [--from-rows fit.jsonl]

The default in `dayshift/answer/abstain.py` is what every user gets before running
`dayshift calibrate`. It is fitted here, the way `calibrate` fits, on both kinds of
unanswerable question, built from SQuAD 2.0 train articles exactly as
`benchmarks/squad2.py` builds its settings from dev part A: `out_of_corpus` (half
of the articles ingested; questions of the other half must be abstained on) and
`squad2` (every article ingested; SQuAD's own unanswerable questions). The
benchmark then measures the default on dev part A, which this fit never sees.

The train file is not shipped: any copy of SQuAD 2.0's train-v2.0.json works
(docs/decisions/0009-reader.md names the one used); only its first articles are
read (`--articles`). It prints the AbstentionModel to paste into abstain.py.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))

import squad2

from dayshift.answer.abstain import FEATURES, AbstentionModel, Evidence
from dayshift.answer.calibrate import fit_abstention, rates, threshold_for


def load_train(path: Path, articles: int) -> list[dict[str, Any]]:
    data = json.loads(path.read_text(encoding="utf-8"))["data"][:articles]
    for article in data:  # train marks answerable questions without is_impossible on some copies
        for paragraph in article["paragraphs"]:
            for q in paragraph["qas"]:
                q.setdefault("is_impossible", not q.get("answers"))
    return data


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--train", type=Path, help="SQuAD 2.0 train-v2.0.json")
    parser.add_argument("--articles", type=int, default=10, help="the first N train articles")
    parser.add_argument("--limit", type=int, default=600, help="questions per setting, half answerable")
    parser.add_argument("--rows", type=Path, help="write every question's evidence here (JSONL)")
    parser.add_argument("--from-rows", type=Path, help="fit from rows written before, without asking again")
    parser.add_argument("--leave-out", action="append", default=[], metavar="FEATURE",
                        help="fit as if FEATURE were never measured (a check the default then never runs)")
    parser.add_argument("--factors", type=int, choices=(1, 2), default=2,
                        help="2: retrieval x reader factors (the shipped form); 1: one logistic score")
    args = parser.parse_args()
    if args.from_rows:
        rows = [json.loads(line) for line in args.from_rows.read_text(encoding="utf-8").splitlines()]
        for row in rows:
            row["evidence"] = Evidence(**row["evidence"])
    else:
        if args.train is None:
            parser.error("--train (or --from-rows) is required")
        rows = collect(load_train(args.train, args.articles), limit=args.limit, rows_out=args.rows)
    unknown = set(args.leave_out) - set(FEATURES)
    if unknown:
        parser.error(f"--leave-out: no feature {', '.join(sorted(unknown))}; the features are {', '.join(FEATURES)}")
    for row in rows:
        row["evidence"] = replace(row["evidence"], **dict.fromkeys(args.leave_out, 1.0))  # as if never measured
    # The weights rank both kinds of unanswerable question; the threshold is set on the kind the
    # target is for (sources that do not hold the answer), its false-answer rate's 95% upper bound
    # within 5%: squad2's adversarial questions would push it to abstain on most answerable ones.
    pooled = fit_abstention([r["evidence"] for r in rows], [r["answerable"] for r in rows], factors=args.factors,
                            dataset=f"SQuAD 2.0 train, first {args.articles} articles, out_of_corpus + squad2 settings")
    pooled = without(pooled, args.leave_out)
    ooc = [r for r in rows if r["setting"] == "out_of_corpus"]
    threshold = threshold_for([pooled.confidence(r["evidence"]) for r in ooc], [r["answerable"] for r in ooc],
                              target_false_answer_rate=0.05, confidence=0.95)
    m = rates([pooled.confidence(r["evidence"]) for r in ooc], [r["answerable"] for r in ooc], threshold)
    model = replace(pooled, threshold=threshold, fitted_on={
        **pooled.fitted_on, "threshold_on": "out_of_corpus", "false_answer_rate": m.false_answer_rate,
        "false_abstention_rate": m.false_abstention_rate, "false_answer_interval": list(m.false_answer_interval),
        "false_abstention_interval": list(m.false_abstention_interval)})
    for setting in ("out_of_corpus", "squad2"):
        part = [r for r in rows if r["setting"] == setting]
        m = rates([model.confidence(r["evidence"]) for r in part], [r["answerable"] for r in part], model.threshold)
        print(f"{setting}: false answers {m.false_answer_rate:.3f} {m.false_answer_interval}, false abstentions "
              f"{m.false_abstention_rate:.3f}, AUROC {m.auroc:.3f} ({m.answerable} + {m.unanswerable})")
    print("DEFAULT_MODEL = " + repr(model))


def without(model: AbstentionModel, features: list[str]) -> AbstentionModel:
    """The same confidences with the left-out features' weights at 0: a constant 1.0 times its weight moves into
    its factor's bias, so a check nobody weighs is never run."""
    weights, reader = dict(model.weights), dict(model.reader_weights or {})
    bias = model.bias + sum(weights.get(f, 0.0) for f in features)
    reader_bias = model.reader_bias + sum(reader.get(f, 0.0) for f in features)
    for f in features:
        weights[f] = 0.0
        if f in reader:
            reader[f] = 0.0
    return replace(model, weights=weights, bias=bias, reader_weights=reader if model.reader_weights is not None
                   else None, reader_bias=reader_bias)


def collect(articles: list[dict[str, Any]], *, limit: int, rows_out: Path | None) -> list[dict[str, Any]]:
    import tempfile

    from dayshift.assemble import open_answerer, open_embedder, open_ingestor
    from dayshift.settings import load_settings

    work = Path(tempfile.mkdtemp(prefix="dayshift-fit-default-"))
    rows: list[dict[str, Any]] = []
    for name, (ingested, questions) in squad2.settings_questions(articles).items():
        squad2.write_corpus(ingested, work / name / "corpus")
        settings = load_settings(data_dir=work / name / "index", answer={"measure_all_evidence": True},
                                 **squad2.shared_models_dir(None))  # every check measured: the fit picks
        embedder = open_embedder(settings)
        open_ingestor(settings, embedder=embedder).sync(work / name / "corpus")
        answerer = open_answerer(settings, embedder=embedder, abstain_threshold=0.0)
        for row in squad2.ask_all(answerer, squad2.sample(questions, limit, seed=1), log=True, label=name):
            row["setting"] = name
            rows.append(row)
            if rows_out is not None:
                with rows_out.open("a", encoding="utf-8") as handle:
                    handle.write(json.dumps(dict(row, evidence=asdict(row["evidence"]))) + "\n")
    return rows


if __name__ == "__main__":
    main()
