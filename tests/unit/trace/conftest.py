"""Trace fixtures: a fresh store over SQLite and over Postgres (skipped when there is no Postgres)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from dayshift.testing.postgres import temporary_database, temporary_postgres
from dayshift.trace.store import TraceStore, default_trace_url


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[str]:
    with temporary_postgres() as url:
        yield url


@pytest.fixture(params=["sqlite", "postgres"])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh, empty trace database of each kind."""
    if request.param == "sqlite":
        yield default_trace_url(tmp_path)
        return
    with temporary_database(request.getfixturevalue("postgres_server")) as url:
        yield url


@pytest.fixture
def store(store_url: str) -> Iterator[TraceStore]:
    with TraceStore(store_url) as store:
        yield store


@pytest.fixture
def sqlite_store(tmp_path: Path) -> Iterator[TraceStore]:
    with TraceStore(default_trace_url(tmp_path)) as store:
        yield store
