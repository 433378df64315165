"""The release gate on SQuAD 2.0, from scratch: one candidate prompt is blocked, the other promoted.

    python benchmarks/gate_demo.py [--dataset ../shared/data/squad2] [--articles 6] [--cases 120] [--json]
                                   [--report-dir DIR]

In a fresh folder: `dayshift eval import` writes articles of SQuAD 2.0 part A
and a sample of their questions (answerable and unanswerable), the articles
are ingested, and the prompt folder benchmarks/gate_demo/ is copied in with
`production` on qa v1 (the shipped answer prompt). Then, with the bundled
model:

  1. qa v1 runs cold (empty eval cache): cases per minute, cold.
  2. The gate runs qa v2 against production. v2 asks for the fewest words
     and stops at the first line: shorter answers raise the mean F1, but
     answers that needed more words now miss, so the gate blocks it and names
     those cases.
  3. The gate runs qa v3 against production. v3 is v1 plus a hint for
     questions that ask for a number or a date; every other question renders
     the same messages as under v1. It breaks nothing, fixes some cases,
     passes, and `production` moves to v3.
  4. qa v1 runs again on a warm cache: cases per minute, cached.

--json prints one object: blocked and promoted (gate_passed, broken_cases,
fixed_cases, pass rates and mean scores), cases_per_min_cold and
cases_per_min_cached.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

from dayshift.assemble import open_ingestor
from dayshift.evals.cases import load_dataset, save_dataset
from dayshift.evals.gate import GateResult, run_gate
from dayshift.evals.importers import import_squad
from dayshift.evals.report import write_reports
from dayshift.evals.run import run_eval
from dayshift.prompts import PromptRegistry
from dayshift.settings import load_settings

PROMPTS = Path(__file__).resolve().parent / "gate_demo"


def gate_json(result: GateResult) -> dict[str, Any]:
    out = result.to_json()
    return {
        "gate_passed": out["gate_passed"], "promoted": out["promoted"],
        "broken_cases": out["broken_cases"], "fixed_cases": out["fixed_cases"], "flaky_cases": out["flaky_cases"],
        "baseline": out["baseline"], "candidate": out["candidate"],
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dataset", type=Path, default=Path("../shared/data/squad2"))
    parser.add_argument("--articles", type=int, default=6)
    parser.add_argument("--cases", type=int, default=120)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--workers", type=int, default=None, help="eval worker processes (default: one per core)")
    parser.add_argument("--report-dir", type=Path, default=None, help="keep the two gate reports here")
    parser.add_argument("--keep", type=Path, default=None, help="work in this folder and keep it")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    log = (lambda *a: print(*a, file=sys.stderr)) if args.json else print

    work = args.keep or Path(tempfile.mkdtemp(prefix="dayshift-gate-demo-"))
    try:
        shutil.rmtree(work, ignore_errors=True)
        work.mkdir(parents=True)
        shutil.copytree(PROMPTS, work / "prompts")
        settings = load_settings(None, data_dir=work / "data")
        settings = settings.model_copy(update={"answer": settings.answer.model_copy(
            update={"prompt_dir": work / "prompts", "prompt": "qa"})})

        imported = import_squad(args.dataset / "dev-v2.0-part-a.json.gz", corpus_dir=work / "corpus",
                                articles=args.articles, limit=args.cases, seed=args.seed)
        save_dataset(work / "cases.jsonl", imported.cases)
        dataset = load_dataset(work / "cases.jsonl")
        answerable = sum(c.answerable for c in dataset.cases)
        log(f"dataset: {len(dataset.cases)} cases ({answerable} answerable) from {imported.documents} articles")
        report = open_ingestor(settings).sync(work / "corpus")
        log(f"ingested {len(report.added)} articles, {report.chunks_written} chunks in {report.seconds:.0f} s")

        registry = PromptRegistry.from_settings(settings)
        log(f"prompts: {', '.join(t.ref for t in registry.versions('qa'))}; labels {registry.labels('qa')}")

        cold = run_eval(settings, dataset, prompt="qa@production", workers=args.workers)
        log(f"cold run of qa@production: {cold.summary()['cases_per_min']:.1f} cases/min")

        blocked = run_gate(settings, dataset, baseline="production", candidate="qa@2", workers=args.workers)
        log(f"qa@2: gate {'passed' if blocked.passed else 'BLOCKED'}, broken {len(blocked.broken)}, "
            f"fixed {len(blocked.fixed)}, mean score {blocked.mean_score('baseline'):.3f} -> "
            f"{blocked.mean_score('candidate'):.3f}")
        promoted = run_gate(settings, dataset, baseline="production", candidate="qa@3", workers=args.workers)
        labels = PromptRegistry.from_settings(settings).labels("qa")
        log(f"qa@3: gate {'passed' if promoted.passed else 'BLOCKED'}, broken {len(promoted.broken)}, "
            f"fixed {len(promoted.fixed)}; labels now {labels}")

        started = time.perf_counter()
        cached = run_eval(settings, dataset, prompt="qa@1", workers=args.workers)
        cached_rate = cached.summary()["cases_per_min"]
        log(f"cached run of qa@1: {cached_rate:.1f} cases/min ({time.perf_counter() - started:.1f} s)")

        if args.report_dir:
            write_reports(blocked, args.report_dir / "blocked")
            write_reports(promoted, args.report_dir / "promoted")
        out = {
            "cases": len(dataset.accepted()),
            "blocked": gate_json(blocked),
            "promoted": {**gate_json(promoted), "production_label": labels.get("production")},
            "cases_per_min_cold": round(cold.summary()["cases_per_min"], 1),
            "cases_per_min_cached": round(cached_rate, 1),
            "cached_results": cached.summary()["cached"],
        }
        if args.json:
            print(json.dumps(out, indent=2))
        else:
            print_table(out)
        ok = (not out["blocked"]["gate_passed"] and out["blocked"]["broken_cases"]
              and out["promoted"]["gate_passed"] and out["promoted"]["fixed_cases"]
              and out["promoted"]["production_label"] == 3)
        return 0 if ok else 1
    finally:
        if args.keep is None:
            shutil.rmtree(work, ignore_errors=True)


def print_table(out: dict[str, Any]) -> None:
    print(f"\n{out['cases']} SQuAD 2.0 cases, bundled model")
    print("| candidate | gate | broken | fixed | pass rate (base -> cand) | mean score (base -> cand) |")
    print("|---|---|---|---|---|---|")
    for key in ("blocked", "promoted"):
        g = out[key]
        print(f"| {g['candidate']['prompt']} | {'passed' if g['gate_passed'] else 'blocked'} | "
              f"{len(g['broken_cases'])} | {len(g['fixed_cases'])} | "
              f"{g['baseline']['pass_rate']:.1%} -> {g['candidate']['pass_rate']:.1%} | "
              f"{g['baseline']['mean_score']:.3f} -> {g['candidate']['mean_score']:.3f} |")
    print(f"\nbroken by {out['blocked']['candidate']['prompt']}: {', '.join(out['blocked']['broken_cases'])}")
    print(f"production label now on v{out['promoted']['production_label']}")
    print(f"eval throughput: {out['cases_per_min_cold']} cases/min cold, {out['cases_per_min_cached']} cached")


if __name__ == "__main__":
    sys.exit(main())
