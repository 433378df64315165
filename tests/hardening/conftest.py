"""The hardening suites: fuzzing, SIGKILL, tenant attacks, prompt injection and secrets.

The models are loaded once per session (as for tests/service), and tests/service's in-process service
helper is importable here.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from dayshift.assemble import open_embedder, open_llm
from dayshift.embed.base import Embedder
from dayshift.llm.client import LLMClient
from dayshift.settings import load_settings

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "service"))  # service_env


@pytest.fixture(scope="session")
def hardening_models(tmp_path_factory: pytest.TempPathFactory) -> tuple[Embedder, LLMClient]:
    settings = load_settings(data_dir=tmp_path_factory.mktemp("models"))
    return open_embedder(settings), open_llm(settings)
