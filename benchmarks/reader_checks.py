"""Which yes/no question should the reader ask itself? AUROC of each wording's P(yes), on SQuAD 2.0 dev part A.

    python benchmarks/reader_checks.py --dataset ../shared/data/squad2 [--limit 120] [--rows checks.jsonl] [--json]

Both settings of benchmarks/squad2.py (out_of_corpus, squad2), every answer
drafted; after each draft the reader is asked each wording below, on the same
prompt (its cache holds the excerpt, so each costs a dozen tokens):
  draft_exact     after the draft: "Does the text say exactly this?"  (the former self_check)
  draft_answers   after the draft: "Is "<draft>" the answer to the question "<q>", according to the text?"
  text_answers    without the draft: "Does the text answer the question?"  (shipped: answer/selfcheck.py)
  details_match   without the draft: "... with every detail of the question matching the text?"
Prints AUROC (answerable above unanswerable) of each P(yes) alone, and its
mean seconds per check. No fitting: nothing here is tuned on these questions.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")
sys.path.insert(0, str(Path(__file__).parent))

import squad2
from rich.progress import track

from dayshift.answer.calibrate import auroc
from dayshift.answer.citations import strip_citations
from dayshift.answer.selfcheck import ANSWERS, QUESTION, ask_yes_no
from dayshift.assemble import open_answerer, open_embedder, open_ingestor
from dayshift.llm.base import ChatRequest, Message
from dayshift.settings import load_settings

WORDINGS = {
    "draft_exact": lambda q, d: (Message("assistant", d), Message("user", QUESTION)),
    "draft_answers": lambda q, d: (Message("assistant", d), Message(
        "user", f'Is "{d}" the answer to the question "{q}", according to the text? Answer yes or no.')),
    "text_answers": lambda q, d: (Message("user", ANSWERS),),
    "details_match": lambda q, d: (Message("user", "Does the text state the answer to this question, with every "
                                           "detail of the question (names, numbers, dates, places) matching the "
                                           "text? Answer yes or no."),),
}


def p_yes(llm: Any, request: ChatRequest, extra: tuple[Message, ...]) -> float:
    found = ask_yes_no(llm, request, extra, tenant=None, cancel=None)
    return 0.5 if found is None else found


def run(dataset: Path, limit: int, rows_out: Path | None) -> list[dict[str, Any]]:
    work = Path(tempfile.mkdtemp(prefix="dayshift-checks-"))
    rows: list[dict[str, Any]] = []
    for name, (articles, questions) in squad2.settings_questions(squad2.load_articles(dataset)).items():
        squad2.write_corpus(articles, work / name / "corpus")
        settings = load_settings(data_dir=work / name / "index", **squad2.shared_models_dir(None))
        embedder = open_embedder(settings)
        open_ingestor(settings, embedder=embedder).sync(work / name / "corpus")
        answerer = open_answerer(settings, embedder=embedder, abstain_threshold=0.0)
        for q in track(squad2.sample(questions, limit, seed=1), description=name):
            answer = answerer.ask(q["question"]).result()
            if answer.completion is None:
                continue
            request = ChatRequest(messages=answerer.prompt.render(question=q["question"], sources=list(answer.sources)))
            draft = strip_citations(answer.draft).strip()
            row: dict[str, Any] = {"setting": name, "id": q["id"], "answerable": q["answerable"]}
            for key, make in WORDINGS.items():
                started = time.perf_counter()
                row[key] = p_yes(answerer.llm, request, make(q["question"], draft))
                row[key + "_s"] = time.perf_counter() - started
            rows.append(row)
            if rows_out is not None:
                with rows_out.open("a", encoding="utf-8") as handle:
                    handle.write(json.dumps(row) + "\n")
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dataset", type=Path, default=Path("../shared/data/squad2"))
    parser.add_argument("--limit", type=int, default=120, help="questions per setting, half answerable")
    parser.add_argument("--rows", type=Path, help="also write each question's P(yes) per wording here (JSONL)")
    parser.add_argument("--from-rows", type=Path, help="score rows written before instead of asking again")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    rows = ([json.loads(line) for line in args.from_rows.read_text().splitlines()] if args.from_rows
            else run(args.dataset, args.limit, args.rows))
    table = {}
    for setting in ("out_of_corpus", "squad2"):
        part = [r for r in rows if r["setting"] == setting]
        table[setting] = {key: {"auroc": round(auroc([r[key] for r in part], [r["answerable"] for r in part]), 3),
                                "seconds": round(sum(r[key + "_s"] for r in part) / max(len(part), 1), 3)}
                          for key in WORDINGS} | {"questions": len(part)}
    if args.json:
        print(json.dumps(table, indent=2))
        return
    print(f"{'wording':<15}" + "".join(f"{s + ' AUROC':>22}" for s in table) + f"{'s per check':>14}")
    for key in WORDINGS:
        print(f"{key:<15}" + "".join(f"{table[s][key]['auroc']:>22.3f}" for s in table)
              + f"{table['squad2'][key]['seconds']:>14.2f}")
    print("questions: " + ", ".join(f"{s} {table[s]['questions']}" for s in table))


if __name__ == "__main__":
    main()
