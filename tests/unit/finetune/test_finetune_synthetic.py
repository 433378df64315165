"""doc2query: the reader's reply cleaned into one question, and the filter that keeps only questions that
find their own passage (the reader and the retriever are plain functions here; the CLI test runs the real ones)."""

from __future__ import annotations

from dayshift.finetune.data.synthetic import Passage, SyntheticReport, clean_question, synthetic_examples


def test_replies_are_cleaned_into_one_question() -> None:
    assert clean_question('Question: "What is the borrow checker?"\nIt checks borrows.') == "What is the borrow checker?"
    assert clean_question("1. How are errors handled in Rust? And more") == "How are errors handled in Rust?"
    assert clean_question("The passage is about ownership.") is None  # not a question
    assert clean_question("Why?") is None  # too short to search with
    assert clean_question("") is None


PASSAGES = [Passage("ownership", "ownership:0", "Ownership rules"), Passage("errors", "errors:0", "Error handling"),
            Passage("vague", "vague:0", "Misc")]
QUESTIONS = {"Ownership rules": "What are the ownership rules in Rust?",
             "Error handling": "How do I handle errors with Result?", "Misc": "What is this about?"}
RANKED = {"What are the ownership rules in Rust?": ["ownership", "borrowing", "lifetimes", "errors"],
          "How do I handle errors with Result?": ["panic", "errors", "ownership"],
          "What is this about?": ["ownership", "errors"]}


def test_only_questions_that_retrieve_their_own_passage_are_kept_with_the_others_as_negatives() -> None:
    report = SyntheticReport()
    examples = list(synthetic_examples(
        PASSAGES, draft=lambda prompt: QUESTIONS[prompt.rsplit("\n", 1)[-1]],
        search=lambda q: [(d, f"text of {d}") for d in RANKED[q]], keep_within=3, negatives=2, report=report))
    assert [(e.positive_id, e.origin["rank"]) for e in examples] == [("ownership", 1), ("errors", 2)]
    assert examples[0].negative_ids == ("borrowing", "lifetimes")
    assert examples[1].negative_ids == ("panic", "ownership")
    assert (report.drafted, report.kept, report.not_found, report.unusable) == (3, 2, 1, 0)
    assert all(e.source == "synthetic" for e in examples)
