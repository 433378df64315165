"""Monitor fixtures: a trace store (SQLite) holding the reference hours of a normal week, and the shipped rules."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from monitor_traffic import week, write

from dayshift.monitor.rules import Rules, load_rules
from dayshift.trace.store import TraceStore, default_trace_url


@pytest.fixture(scope="module")
def normal_week(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A store folder with the normal week written once per module; tests copy it."""
    folder = tmp_path_factory.mktemp("week")
    with TraceStore(default_trace_url(folder)) as store:
        write(store, week())
    return folder


@pytest.fixture
def store(normal_week: Path, tmp_path: Path) -> Iterator[TraceStore]:
    shutil.copy(normal_week / "traces.sqlite", tmp_path / "traces.sqlite")
    with TraceStore(default_trace_url(tmp_path)) as opened:
        yield opened


@pytest.fixture(scope="session")
def rules() -> Rules:
    return load_rules()
