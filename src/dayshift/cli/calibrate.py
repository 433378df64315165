"""`dayshift calibrate --dataset dev.jsonl`: learn when to abstain from labelled questions.

dev.jsonl holds one question per line: {"question": "...", "answerable": true}
(`is_impossible` is read too, as its negation). Each question is answered by
the whole pipeline with abstention off, the evidence is fitted
(answer/calibrate.py), and the model is saved to data_dir/calibration.json,
which `ask`, `demo` and the service then use.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import track

from dayshift.answer.calibrate import fit_abstention
from dayshift.assemble import open_answerer
from dayshift.errors import ConfigError
from dayshift.settings import Settings


def read_labelled(path: Path) -> list[tuple[str, bool]]:
    rows: list[tuple[str, bool]] = []
    try:
        lines = path.read_text(encoding="utf-8").split("\n")  # not splitlines(): JSON leaves U+2028 and friends unescaped
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read the dataset ({exc.strerror}); pass an existing JSONL file") from exc
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
            answerable = row["answerable"] if "answerable" in row else not row["is_impossible"]
            rows.append((str(row["question"]), bool(answerable)))
        except (ValueError, KeyError, TypeError) as exc:
            raise ConfigError(
                f'{path}:{number}: expected {{"question": ..., "answerable": true|false}} ({exc!r}); fix that line'
            ) from exc
    return rows


def calibrate(
    ctx: typer.Context,
    dataset: Annotated[Path | None, typer.Option("--dataset", help="JSONL of labelled questions.")] = None,
    target_false_answer_rate: Annotated[
        float, typer.Option(min=0.0, max=1.0, help="Highest share of unanswerable questions that may be answered.")
    ] = 0.05,
    retrieval: Annotated[
        Path | None, typer.Option("--retrieval", help="Eval dataset: fit the hybrid fusion on its expected_sources.")
    ] = None,
    confidence: Annotated[
        float, typer.Option(min=0.0, max=0.999, help="The threshold keeps the false-answer rate's upper bound at "
                            "this confidence within the target; 0 uses the point estimate.")
    ] = 0.95,
    factors: Annotated[
        int, typer.Option(min=1, max=2, help="2: retrieval x reader factors (the shipped default's form); "
                          "1: one logistic score over all the evidence.")
    ] = 2,
) -> None:
    """Fit the abstention threshold and weights (--dataset), or the retrieval fusion (--retrieval)."""
    settings: Settings = ctx.obj
    if retrieval is not None:
        from dayshift.cli.calibrate_retrieval import calibrate_retrieval

        calibrate_retrieval(settings, retrieval)
        return
    if dataset is None:
        raise typer.BadParameter("pass --dataset dev.jsonl (abstention) or --retrieval evals/qa.jsonl (fusion)")
    labelled = read_labelled(dataset)
    # Draft every answer and run every reader check, so that all the evidence is measured for the fit.
    measuring = settings.model_copy(update={"answer": settings.answer.model_copy(update={"measure_all_evidence": True})})
    answerer = open_answerer(measuring, abstain_threshold=0.0)
    evidence = [answerer.ask(q).result().evidence for q, _ in track(labelled, description="answering")]
    model = fit_abstention(evidence, [a for _, a in labelled], target_false_answer_rate=target_false_answer_rate,
                           dataset=str(dataset), confidence=confidence or None, factors=factors)
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    model.save(settings.data_dir / "calibration.json")
    f = model.fitted_on
    far, fab = f["false_answer_interval"], f["false_abstention_interval"]
    Console().print(
        f"saved {settings.data_dir / 'calibration.json'}: threshold {model.threshold:.3f} "
        f"({f['threshold_rule']}), AUROC {f['auroc']:.3f}\n"
        f"  false answers {f['false_answer_rate']:.1%} (95% interval {far[0]:.1%}-{far[1]:.1%}), "
        f"false abstentions {f['false_abstention_rate']:.1%} ({fab[0]:.1%}-{fab[1]:.1%}) "
        f"on {f['answerable']} answerable and {f['unanswerable']} unanswerable questions"
    )
