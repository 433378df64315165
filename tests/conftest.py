"""Shared fixtures. Real data comes from one setting: DAYSHIFT_SHARED_DATA
(default: ../shared/data next to the repository). Tests that need it skip with
the reason when it is absent, as in a user's clone."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("DAYSHIFT_SHARED_DATA", REPO_ROOT.parent / "shared" / "data"))


def _require(relative: str) -> Path:
    path = SHARED_DATA / relative
    if not path.exists():
        pytest.skip(
            f"needs the shared data set at {path} (set DAYSHIFT_SHARED_DATA to the folder "
            "holding beir/, pdfs/, squad2/ ...)"
        )
    return path


@pytest.fixture(scope="session")
def shared_data() -> Path:
    return _require("")


@pytest.fixture(scope="session")
def pdf_dir() -> Path:
    return _require("pdfs")


@pytest.fixture(scope="session")
def wiki_dir() -> Path:
    return _require("wiki_mediawiki")


@pytest.fixture(scope="session")
def rust_book_dir() -> Path:
    return _require("markdown_rust_book/src")


@pytest.fixture(scope="session")
def tabular_dir() -> Path:
    return _require("tabular")


@pytest.fixture(scope="session")
def scifact_dir() -> Path:
    return _require("beir/scifact")


@pytest.fixture(scope="session", autouse=True)
def _one_models_folder(tmp_path_factory: pytest.TempPathFactory) -> None:
    """Readers shipped in parts are joined once per test session, not once per test's data folder.

    Set in the environment, so the CLI and servers the tests start as processes use it too.
    """
    if "DAYSHIFT_LLM__MODELS_DIR" not in os.environ:
        os.environ["DAYSHIFT_LLM__MODELS_DIR"] = str(tmp_path_factory.mktemp("models"))
