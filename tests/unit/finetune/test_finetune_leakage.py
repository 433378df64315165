"""The leakage check: eval questions (exact or near copies) and expected passages found in the training data."""

from __future__ import annotations

from dayshift.evals.cases import EvalCase
from dayshift.finetune.data import TrainingExample
from dayshift.finetune.leakage import check_leakage


def _case(case_id: str, question: str, sources: list[str]) -> EvalCase:
    return EvalCase(id=case_id, question=question, expected_answers=[], expected_sources=sources, answerable=True)


TRAINING = [
    TrainingExample(query="How do I borrow a value mutably in Rust?", positive="...", positive_id="ch04"),
    TrainingExample(query="What does the ownership system guarantee about memory safety at compile time?",
                    positive="...", positive_id="ch05"),
]


def test_an_exact_question_is_a_question_leak_whatever_its_case_and_punctuation() -> None:
    report = check_leakage([_case("c1", "how do I borrow a value mutably in rust", [])], TRAINING)
    assert [(leak.case_id, leak.kind) for leak in report.leaks] == [("c1", "question")]
    assert report.question_leaks and "1 of 1 eval cases leak" in report.summary()


def test_a_near_copy_is_a_question_leak_and_a_different_question_is_not() -> None:
    near = "What does the ownership system guarantee about memory safety at compile time, exactly?"
    other = "Which keyword declares a constant?"
    report = check_leakage([_case("near", near, []), _case("other", other, [])], TRAINING)
    assert report.leaked_cases == {"near"}


def test_an_expected_document_that_is_a_training_positive_is_a_passage_leak_only() -> None:
    report = check_leakage([_case("c3", "Which keyword declares a constant?", ["ch05"])], TRAINING)
    assert [(leak.kind, leak.case_id) for leak in report.leaks] == [("passage", "c3")]
    assert not report.question_leaks
    assert check_leakage([_case("c4", "Which keyword declares a constant?", ["ch09"])], TRAINING).summary() == (
        "no leakage: none of 1 eval cases is in the training data")
