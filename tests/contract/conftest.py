"""One throwaway PostgreSQL (with pgvector) for the contract tests of this folder that need it.

DAYSHIFT_TEST_PGVECTOR_URL names a server to use instead; without either, those tests skip
(dayshift.testing.pgvector_server says why).
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from dayshift.testing.pgvector_server import fresh_database, pgvector_server


@pytest.fixture(scope="session")
def pg_server() -> Iterator[str]:
    with pgvector_server() as url:
        yield url


@pytest.fixture(scope="module")
def pg_database(pg_server: str) -> Iterator[str]:
    """An empty database for one test module."""
    with fresh_database(pg_server) as url:
        yield url
