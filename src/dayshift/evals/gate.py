"""The release gate: a candidate prompt ships only if no case that passed under the baseline fails under it.

An average hides trades. A prompt that answers ten more questions and stops
answering three that users relied on raises the mean and still breaks those
three, so the gate decides per case:

    broken          passed under the baseline, fails under the candidate   -> the gate fails
    fixed           failed under the baseline, passes under the candidate
    still passing / still failing

With n repeated runs a case *fails* only if it fails in most of them (more
than n/2), so one unlucky sample does not block a release and one lucky one
does not pass it. A case whose runs disagree under either prompt is *flaky*;
flaky cases are listed on their own so they can be fixed or quarantined, and a
flaky case still counts by its majority.

Both runs must share the dataset, the index and the settings: otherwise the
diff would measure something other than the prompt, and the gate refuses.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Literal

from dayshift.errors import ConfigError
from dayshift.evals.cases import Dataset
from dayshift.evals.run import CaseResult, EvalRun, case_score
from dayshift.settings import Settings

Change = Literal["broken", "fixed", "still_passing", "still_failing"]


@dataclass(frozen=True, slots=True)
class CaseOutcome:
    """One case's runs under one prompt."""

    runs: int
    passes: int
    mean_score: float
    answer: str  # the first run's answer

    @property
    def passed(self) -> bool:
        return self.runs - self.passes <= self.runs / 2  # fails in most runs -> failed

    @property
    def flaky(self) -> bool:
        return 0 < self.passes < self.runs


@dataclass(frozen=True, slots=True)
class CaseDiff:
    case_id: str
    question: str
    expected: tuple[str, ...]
    answerable: bool
    change: Change
    baseline: CaseOutcome
    candidate: CaseOutcome

    @property
    def flaky(self) -> bool:
        return self.baseline.flaky or self.candidate.flaky


@dataclass(slots=True)
class GateResult:
    baseline: EvalRun
    candidate: EvalRun
    diffs: list[CaseDiff]
    promoted: bool = False
    notes: list[str] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return not self.broken

    @property
    def broken(self) -> list[CaseDiff]:
        return [d for d in self.diffs if d.change == "broken"]

    @property
    def fixed(self) -> list[CaseDiff]:
        return [d for d in self.diffs if d.change == "fixed"]

    @property
    def flaky(self) -> list[CaseDiff]:
        return [d for d in self.diffs if d.flaky]

    def pass_rate(self, which: Literal["baseline", "candidate"]) -> float:
        outcomes = [getattr(d, which) for d in self.diffs]
        return sum(o.passed for o in outcomes) / len(outcomes) if outcomes else 0.0

    def mean_score(self, which: Literal["baseline", "candidate"]) -> float:
        outcomes = [getattr(d, which) for d in self.diffs]
        return sum(o.mean_score for o in outcomes) / len(outcomes) if outcomes else 0.0

    def to_json(self) -> dict[str, object]:
        return {
            "gate_passed": self.passed, "promoted": self.promoted,
            "baseline": {"prompt": self.baseline.config.prompt, "run_id": self.baseline.run_id,
                         "pass_rate": self.pass_rate("baseline"), "mean_score": self.mean_score("baseline")},
            "candidate": {"prompt": self.candidate.config.prompt, "run_id": self.candidate.run_id,
                          "pass_rate": self.pass_rate("candidate"), "mean_score": self.mean_score("candidate")},
            "cases": len(self.diffs),
            "broken_cases": [d.case_id for d in self.broken],
            "fixed_cases": [d.case_id for d in self.fixed],
            "flaky_cases": [d.case_id for d in self.flaky],
            "notes": list(self.notes),
        }


def compare(baseline: EvalRun, candidate: EvalRun) -> GateResult:
    """The per-case diff of two runs over the same cases, index and settings."""
    _check_comparable(baseline, candidate)
    base, cand = _outcomes(baseline.results), _outcomes(candidate.results)
    diffs = []
    for case_id in base.keys() & cand.keys():
        b, c = base[case_id], cand[case_id]
        change: Change = (
            ("still_passing" if c.passed else "broken") if b.passed else ("fixed" if c.passed else "still_failing")
        )
        case = candidate.cases.get(case_id) or baseline.cases.get(case_id)
        diffs.append(CaseDiff(
            case_id=case_id, question=case.question if case else "", answerable=case.answerable if case else True,
            expected=tuple(case.expected_answers) if case else (), change=change, baseline=b, candidate=c,
        ))
    order = {"broken": 0, "fixed": 1, "still_failing": 2, "still_passing": 3}
    diffs.sort(key=lambda d: (order[d.change], not d.flaky, d.case_id))
    result = GateResult(baseline=baseline, candidate=candidate, diffs=diffs)
    missing = base.keys() ^ cand.keys()
    if missing:
        result.notes.append(f"{len(missing)} case(s) ran under only one prompt and are not compared")
    return result


def _outcomes(results: list[CaseResult]) -> dict[str, CaseOutcome]:
    grouped: dict[str, list[CaseResult]] = {}
    for r in results:
        grouped.setdefault(r.case_id, []).append(r)
    return {
        case_id: CaseOutcome(
            runs=len(rs), passes=sum(r.passed for r in rs), mean_score=sum(case_score(r) for r in rs) / len(rs),
            answer=min(rs, key=lambda r: r.repeat).answer,
        )
        for case_id, rs in grouped.items()
    }


def _check_comparable(baseline: EvalRun, candidate: EvalRun) -> None:
    a, b = baseline.config, candidate.config
    for name, why in (
        ("dataset_hash", "the datasets differ"),
        ("index_version", "the index changed between the runs"),
        ("settings_hash", "retrieval, model or answer settings differ"),
        ("model", "the models differ"),
        ("min_f1", "the pass thresholds differ"),
    ):
        if getattr(a, name) != getattr(b, name):
            raise ConfigError(
                f"the runs {baseline.run_id} and {candidate.run_id} are not comparable: {why} "
                f"({name} {getattr(a, name)!r} vs {getattr(b, name)!r}); run both again with `dayshift eval gate`"
            )


def resolve_baseline(baseline: str, candidate: str, *, prompt_names: Sequence[str]) -> str:
    """`--baseline production --candidate qa@3`: a bare label or version means that one of the candidate's prompt."""
    if "@" in baseline or baseline in prompt_names:
        return baseline
    return f"{candidate.split('@', 1)[0]}@{baseline}"


def run_gate(
    settings: Settings, dataset: Dataset, *, baseline: str, candidate: str, repeats: int = 1,
    workers: int | None = None, min_f1: float = 0.5, promote: bool = True, use_cache: bool = True,
    actor: str = "dayshift eval gate", on_result: Callable[[CaseResult], None] | None = None,
) -> GateResult:
    """Run both prompts over the dataset, diff them per case, and move `production` when the gate passes.

    The reports are the caller's: `dayshift.evals.report.write_reports(result, folder)` (report reads
    this module's values; this module never imports it).
    """
    from dayshift.evals.run import run_eval
    from dayshift.prompts import PromptRegistry

    registry = PromptRegistry.from_settings(settings)
    baseline = resolve_baseline(baseline, candidate, prompt_names=registry.names())
    base_template, cand_template = registry.get(baseline), registry.get(candidate)
    if base_template.name != cand_template.name:
        raise ConfigError(
            f"the baseline {base_template.ref} and the candidate {cand_template.ref} are different prompts; "
            "gate versions of one prompt"
        )
    runs = [
        run_eval(settings, dataset, prompt=ref, repeats=repeats, workers=workers, min_f1=min_f1,
                 use_cache=use_cache, on_result=on_result)
        for ref in (base_template.ref, cand_template.ref)
    ]
    result = compare(*runs)
    if base_template.version == cand_template.version:
        result.notes.append("the baseline and the candidate are the same version")
    if result.passed and promote:
        if registry.labels(cand_template.name).get("production") != cand_template.version:
            registry.set_label(
                cand_template.name, "production", cand_template.version, actor=actor,
                reason=f"eval gate passed on {dataset.path.name}: {len(result.fixed)} fixed, 0 broken "
                       f"(runs {runs[0].run_id}, {runs[1].run_id})",
            )
        result.promoted = True
    return result
