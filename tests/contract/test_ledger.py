"""The usage ledger contract on both engines: usage.sqlite and a table in Postgres."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest

pytest.register_assert_rewrite("dayshift.testing.ledger_contract")

from dayshift.llm.accounting import Ledger, UsageLedger
from dayshift.llm.ledger_postgres import PostgresLedger
from dayshift.testing.ledger_contract import LedgerContract


class TestSqliteLedger(LedgerContract):
    @pytest.fixture(autouse=True)
    def _folder(self, tmp_path: Path) -> None:
        self.folder = tmp_path

    def open_ledger(self, place: str) -> UsageLedger:
        return Ledger(self.folder / place / "usage.sqlite")


class TestPostgresLedger(LedgerContract):
    @pytest.fixture(autouse=True)
    def _database(self, pg_database: str) -> None:
        self.url, self.prefix = pg_database, uuid.uuid4().hex[:10]

    def open_ledger(self, place: str) -> UsageLedger:
        return PostgresLedger(self.url, namespace=f"{self.prefix}-{place}")
