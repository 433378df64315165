"""Choose the reader by measurement: every shipped reader with 1, 3 and 5 excerpts per prompt.

    python benchmarks/readers.py [--dataset ../shared/data/squad2] [--limit 60] [--json] [--rows-dir DIR]

Each (reader, excerpts) pair runs `benchmarks/squad2.py`'s whole pipeline on SQuAD 2.0 dev
part A: both settings (out_of_corpus, squad2), `--limit` questions each, half answerable,
abstention cross-fitted over articles. With 60 questions a setting (15 unanswerable per fold)
no threshold can show 5% false answers at 95% confidence, so thresholds here are the point
estimate; the shipped default is measured with the upper bound by squad2.py itself.
One row per pair and setting: answer F1/EM, false answers, false abstentions, AUROC and
seconds per answer, all from the same process and the same questions.
docs/decisions/0009-reader.md holds the table this printed and the decision taken on it.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")
sys.path.insert(0, str(Path(__file__).parent))

import squad2

from dayshift.llm.readers import READERS

EXCERPTS = (1, 3, 5)
COLUMNS = ("answer_f1", "answer_em", "false_answer_rate", "false_abstention_rate", "abstention_auroc",
           "seconds_per_question")


def measure(dataset: Path, *, readers: list[str], excerpts: tuple[int, ...], limit: int, log: bool,
            rows_dir: Path | None) -> list[dict[str, Any]]:
    out = []
    for reader in readers:
        for n in excerpts:
            rows_out = rows_dir / f"{reader}-e{n}.jsonl" if rows_dir else None
            if rows_out is not None:
                rows_out.parent.mkdir(parents=True, exist_ok=True)
                rows_out.unlink(missing_ok=True)
            results = squad2.run(dataset, limit=limit, log=log, rows_out=rows_out, confidence=None,
                                 overrides={"llm": {"model": reader}, "answer": {"excerpts": n}})
            for setting, r in results.items():
                out.append({"reader": reader, "excerpts": n, "setting": setting, "draft_f1": r["draft_f1"],
                            **{k: r[k] for k in COLUMNS}})
                if log:
                    print(render(out[-1:]), file=sys.stderr, flush=True)
    return out


def render(rows: list[dict[str, Any]]) -> str:
    head = "| reader | excerpts | setting | draft F1 | " + " | ".join(COLUMNS) + " |"
    lines = [head, "|" + "---|" * (head.count("|") - 1)]
    for r in rows:
        lines.append(f"| {r['reader']} | {r['excerpts']} | {r['setting']} | {r['draft_f1']:.3f} | "
                     + " | ".join(f"{r[k]:.3f}" if k != "seconds_per_question" else f"{r[k]:.2f}" for k in COLUMNS)
                     + " |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dataset", type=Path, default=Path("../shared/data/squad2"))
    parser.add_argument("--limit", type=int, default=60, help="questions per setting, half answerable")
    parser.add_argument("--readers", default=",".join(READERS), help="comma-separated reader names")
    parser.add_argument("--excerpts", default=",".join(map(str, EXCERPTS)))
    parser.add_argument("--rows-dir", type=Path, help="keep every question's evidence and draft, one file a pair")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    readers = [r.strip() for r in args.readers.split(",") if r.strip()]
    unknown = [r for r in readers if r not in READERS]
    if unknown:
        parser.error(f"--readers: unknown {', '.join(unknown)}; shipped readers: {', '.join(READERS)}")
    rows = measure(args.dataset, readers=readers, excerpts=tuple(int(n) for n in args.excerpts.split(",")),
                   limit=args.limit, log=not args.json, rows_dir=args.rows_dir)
    print(json.dumps(rows, indent=2) if args.json else render(rows))


if __name__ == "__main__":
    main()
