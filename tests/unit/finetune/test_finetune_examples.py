"""Training examples: the JSONL round trip, errors that name file:line, the data hash, the split by query."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from dayshift.errors import ConfigError
from dayshift.finetune.data import TrainingExample, data_hash, read_examples, split_examples, write_examples


def _examples(n: int) -> list[TrainingExample]:
    return [TrainingExample(query=f"question {i}?", positive=f"passage {i}", positive_id=f"d{i}",
                            negatives=(f"other {i}",), negative_ids=(f"o{i}",), source="eval") for i in range(n)]


def test_round_trip_keeps_every_field(tmp_path: Path) -> None:
    examples = _examples(3)
    assert write_examples(tmp_path / "pairs.jsonl", examples) == 3
    assert read_examples(tmp_path / "pairs.jsonl") == examples


def test_a_bad_line_names_the_file_the_line_and_the_field(tmp_path: Path) -> None:
    path = tmp_path / "pairs.jsonl"
    path.write_text(json.dumps({"query": "q?", "positive": "p"}) + "\n" + json.dumps({"query": "q2?"}) + "\n")
    with pytest.raises(ConfigError, match=r"pairs.jsonl:2: field 'positive'"):
        read_examples(path)
    path.write_text("{not json\n")
    with pytest.raises(ConfigError, match=r"pairs.jsonl:1: not JSON"):
        read_examples(path)
    path.write_text(json.dumps({"query": "q?", "positive": "p", "source": "guess"}) + "\n")
    with pytest.raises(ConfigError, match="use one of synthetic, eval, trace, qrels"):
        read_examples(path)


def test_a_missing_file_says_how_to_make_one(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="dayshift finetune data"):
        read_examples(tmp_path / "absent.jsonl")


def test_the_data_hash_changes_with_any_example_and_not_otherwise() -> None:
    examples = _examples(4)
    assert data_hash(examples) == data_hash(list(examples))
    changed = [*examples[:3], TrainingExample(query="question 3?", positive="passage 3!", positive_id="d3",
                                              negatives=("other 3",), negative_ids=("o3",), source="eval")]
    assert data_hash(changed) != data_hash(examples)
    assert len(data_hash(examples)) == 64


def test_the_split_is_by_query_and_reproducible() -> None:
    examples = [*_examples(20), *_examples(20)]  # each query twice
    train, validation = split_examples(examples, validation_share=0.2, seed=7)
    assert {e.query for e in train}.isdisjoint({e.query for e in validation})
    assert len({e.query for e in validation}) == 4 and len(train) + len(validation) == 40
    assert split_examples(examples, validation_share=0.2, seed=7) == (train, validation)
    assert split_examples(examples, validation_share=0.2, seed=8) != (train, validation)


def test_one_query_cannot_be_split() -> None:
    with pytest.raises(ConfigError, match="cannot be split"):
        split_examples(_examples(1), validation_share=0.5, seed=1)
