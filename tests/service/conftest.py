"""The bundled models, loaded once for every service test."""

from __future__ import annotations

import pytest

from dayshift.assemble import open_embedder, open_llm
from dayshift.embed.base import Embedder
from dayshift.llm.client import LLMClient
from dayshift.settings import load_settings


@pytest.fixture(scope="session")
def models(tmp_path_factory: pytest.TempPathFactory) -> tuple[Embedder, LLMClient]:
    settings = load_settings(data_dir=tmp_path_factory.mktemp("models"))
    return open_embedder(settings), open_llm(settings)
