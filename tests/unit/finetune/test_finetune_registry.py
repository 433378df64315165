"""The model registry: versions with cards, candidate on registration, promote, rollback, references."""

from __future__ import annotations

from pathlib import Path

import pytest

from dayshift.errors import ConfigError
from dayshift.finetune.registry import ModelRegistry


@pytest.fixture
def model_dir(tmp_path: Path) -> Path:
    folder = tmp_path / "trained"
    folder.mkdir()
    (folder / "config.json").write_text("{}")
    return folder


def _register(registry: ModelRegistry, model_dir: Path, data: str) -> int:
    return registry.register(name="reranker", kind="reranker", model_dir=model_dir, base_model="minilm",
                             data_hash=data, metrics={"loss": 0.3}, tracker_run_id="run-" + data).version


def test_a_new_version_is_the_candidate_with_its_card_and_its_own_copy(tmp_path: Path, model_dir: Path) -> None:
    registry = ModelRegistry(tmp_path / "models")
    assert _register(registry, model_dir, "a") == 1 and _register(registry, model_dir, "b") == 2
    assert registry.aliases("reranker") == {"production": None, "candidate": 2, "history": []}
    card = registry.resolve("reranker@candidate")
    assert (card.version, card.data_hash, card.tracker_run_id, card.base_model) == (2, "b", "run-b", "minilm")
    assert (registry.model_dir("reranker", 1) / "config.json").is_file()
    assert registry.names() == ["reranker"] and registry.versions("reranker") == [1, 2]


def test_promote_and_rollback_move_production_through_the_history(tmp_path: Path, model_dir: Path) -> None:
    registry = ModelRegistry(tmp_path / "models")
    for data in "abc":
        _register(registry, model_dir, data)
    registry.promote("reranker@1")
    assert registry.aliases("reranker")["candidate"] == 3  # the last registered; promoting another leaves it
    registry.promote("reranker@3")
    assert registry.resolve("reranker").version == 3  # a bare name is production
    assert registry.aliases("reranker")["candidate"] is None  # the candidate was promoted
    assert registry.rollback("reranker").version == 1
    assert registry.rollback("reranker") is None  # nothing before 1: the model is off
    with pytest.raises(ConfigError, match="no production version to roll back"):
        registry.rollback("reranker")


def test_bad_references_say_what_exists(tmp_path: Path, model_dir: Path) -> None:
    registry = ModelRegistry(tmp_path / "models")
    _register(registry, model_dir, "a")
    with pytest.raises(ConfigError, match=r"no version 7 of model 'reranker' \(versions: 1\)"):
        registry.resolve("reranker@7")
    with pytest.raises(ConfigError, match="has no production version"):
        registry.resolve("reranker@production")
    with pytest.raises(ConfigError, match="a version is a number"):
        registry.resolve("reranker@latest")
    with pytest.raises(ConfigError, match="unknown model kind"):
        registry.register(name="x", kind="tokenizer", model_dir=model_dir, base_model="", data_hash="")
