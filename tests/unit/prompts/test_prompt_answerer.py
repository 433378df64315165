"""open_answerer resolves answer.prompt through the registry: the service and `dayshift ask` answer with the
labelled version, and a ref that does not resolve fails before any model is loaded."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest
from prompt_folder import front_matter, write

from dayshift.assemble import open_answerer
from dayshift.errors import ConfigError
from dayshift.http import RetryPolicy
from dayshift.llm.base import Timeouts
from dayshift.llm.client import LLMClient
from dayshift.settings import Settings
from dayshift.testing.memory_store import MemoryStore
from dayshift.testing.scripted_llm import ScriptedBackend


class WordTokenizer:
    def count(self, text: str) -> int:
        return len(text.split())

    def token_spans(self, text: str) -> list[tuple[int, int]]:
        return []


class ConstantEmbedder:
    space, dim, tokenizer = "test/constant", 4, WordTokenizer()

    def embed(self, texts: Sequence[str], *, kind: str = "document") -> np.ndarray:
        return np.tile(np.array([1.0, 0.0, 0.0, 0.0], dtype=np.float32), (len(texts), 1))


def llm() -> LLMClient:
    return LLMClient([ScriptedBackend()], timeouts=Timeouts(), retry=RetryPolicy(max_retries=0, backoff_base_s=0.0),
                     breaker_failures=5, breaker_reset_s=30)


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    home = tmp_path / "prompts"
    write(home, "qa/v1.md", front_matter("qa", 1, description="the one in production"))
    write(home, "qa/v2.md", front_matter("qa", 2, description="the candidate"))
    write(home, "labels.yaml", "qa: {production: 1, candidate: 2}\n")
    return Settings(data_dir=tmp_path / "data", answer={"prompt_dir": home, "prompt": "qa"})


@pytest.mark.parametrize(("ref", "expected"), [("qa", "qa@v1"), ("qa@candidate", "qa@v2"), ("qa@v2", "qa@v2"),
                                                ("answer", "answer@v3"), ("answer@2", "answer@v2")])
def test_the_answerer_uses_the_version_the_ref_names(settings: Settings, ref: str, expected: str) -> None:
    settings = settings.model_copy(update={"answer": settings.answer.model_copy(update={"prompt": ref})})
    embedder = ConstantEmbedder()
    answerer = open_answerer(settings, embedder=embedder, store=MemoryStore(space=embedder.space, dim=embedder.dim),
                             llm=llm())
    assert answerer.prompt.ref == expected


def test_a_ref_that_does_not_resolve_fails_before_models_load(settings: Settings) -> None:
    settings = settings.model_copy(update={"answer": settings.answer.model_copy(update={"prompt": "qa@staging"})})
    with pytest.raises(ConfigError, match='prompt qa has no label "staging"'):
        open_answerer(settings)  # no embedder or LLM given: loading either would come first and take seconds
