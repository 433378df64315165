"""The contract every usage ledger passes: one suite that each engine's tests inherit.

    class TestMyLedger(LedgerContract):
        def open_ledger(self, place: str) -> UsageLedger:
            return MyLedger(...)       # the same `place` reopens the same, at first empty, ledger

Runs only through `dayshift.llm.accounting.UsageLedger`: calls are summarised per (tenant,
model), dearest first then by name in byte order; what a tenant spent counts from a moment
(a UTC day for budgets; naive times are UTC); and concurrent writers on their own handles
lose no row, which is what lets several processes share one daily budget.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from dayshift.llm.accounting import UsageLedger, spent_today_usd
from dayshift.llm.base import Usage


class LedgerContract:
    def open_ledger(self, place: str) -> UsageLedger:
        raise NotImplementedError

    @pytest.fixture
    def ledger(self) -> Iterator[UsageLedger]:
        opened = self.open_ledger("main")
        yield opened
        opened.close()

    def test_calls_are_summarised_by_tenant_and_model_dearest_first(self, ledger: UsageLedger) -> None:
        ledger.append(model="gpt-4o-mini", usage=Usage(100, 20), cost_usd=0.5, tenant="acme", request_id="r1")
        ledger.append(model="gpt-4o-mini", usage=Usage(50, 10, "tokenizer"), cost_usd=0.25, tenant="acme")
        ledger.append(model="mystery", usage=Usage(7, 3), cost_usd=0.0, tenant=None, cost_known=False)
        ledger.append(model="dear", usage=Usage(10**9, 10**8), cost_usd=2.0, tenant="globex")
        rows = ledger.summary()
        assert [(r.tenant, r.model, r.calls, r.input_tokens, r.output_tokens) for r in rows] == [
            ("globex", "dear", 1, 10**9, 10**8),
            ("acme", "gpt-4o-mini", 2, 150, 30),
            ("-", "mystery", 1, 7, 3),
        ]
        assert rows[1].cost_usd == pytest.approx(0.75) and rows[1].cost_known is True
        assert rows[2].cost_usd == 0.0 and rows[2].cost_known is False
        assert isinstance(ledger.where, str) and ledger.where

    def test_equal_costs_sort_by_tenant_then_model_in_byte_order(self, ledger: UsageLedger) -> None:
        for tenant, model in (("b", "m"), ("acme", "z"), ("Acme", "m"), ("acme", "Z"), ("acme", "a")):
            ledger.append(model=model, usage=Usage(1, 1), cost_usd=1.0, tenant=tenant)
        assert [(r.tenant, r.model) for r in ledger.summary()] == [
            ("Acme", "m"), ("acme", "Z"), ("acme", "a"), ("acme", "z"), ("b", "m")
        ]

    def test_spending_counts_from_a_moment_and_today_is_the_utc_day(self, ledger: UsageLedger) -> None:
        now = datetime.now(UTC)
        ledger.append(model="m", usage=Usage(1, 1), cost_usd=4.0, tenant="acme", at=now - timedelta(days=1, hours=1))
        ledger.append(model="m", usage=Usage(1, 1), cost_usd=1.5, tenant="acme", at=now)
        ledger.append(model="m", usage=Usage(1, 1), cost_usd=9.0, tenant="globex", at=now)
        assert spent_today_usd(ledger, "acme") == pytest.approx(1.5)
        assert ledger.spent_usd("acme", since=now - timedelta(days=2)) == pytest.approx(5.5)
        assert ledger.spent_usd("nobody", since=now - timedelta(days=2)) == 0.0
        assert [(r.tenant, r.calls) for r in ledger.summary(since=now - timedelta(hours=1))] == [
            ("globex", 1), ("acme", 1)
        ]
        assert sum(r.calls for r in ledger.summary(since=None)) == 3

    def test_naive_times_are_utc(self, ledger: UsageLedger) -> None:
        moment = datetime(2025, 3, 21, 23, 30)
        ledger.append(model="m", usage=Usage(1, 1), cost_usd=1.0, tenant="acme", at=moment)
        assert ledger.spent_usd("acme", since=moment.replace(tzinfo=UTC)) == 1.0
        assert ledger.spent_usd("acme", since=datetime(2025, 3, 21, 23, 30, 1, tzinfo=UTC)) == 0.0

    def test_writers_on_their_own_handles_lose_no_row(self, ledger: UsageLedger) -> None:
        handles = [self.open_ledger("main") for _ in range(3)]

        def book(handle: UsageLedger, tenant: str) -> None:
            for i in range(60):
                handle.append(model="gpt-4o-mini", usage=Usage(10, 1), cost_usd=0.001, tenant=tenant,
                              request_id=str(i))  # fmt: skip

        threads = [threading.Thread(target=book, args=(h, f"t{i}")) for i, h in enumerate(handles)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=120)
        for handle in handles:
            handle.close()
        rows = ledger.summary()
        assert sorted((r.tenant, r.calls, r.input_tokens) for r in rows) == [(f"t{i}", 60, 600) for i in range(3)]
        assert sum(r.cost_usd for r in rows) == pytest.approx(0.18)

    def test_a_reopened_ledger_has_every_call_and_another_place_none(self, ledger: UsageLedger) -> None:
        ledger.append(model="m", usage=Usage(3, 4), cost_usd=0.5, tenant="acme")
        ledger.close()
        again, other = self.open_ledger("main"), self.open_ledger("other")
        try:
            assert [(r.tenant, r.calls, r.input_tokens, r.output_tokens) for r in again.summary()] == [
                ("acme", 1, 3, 4)
            ]
            assert other.summary() == [] and spent_today_usd(other, "acme") == 0.0
        finally:
            again.close()
            other.close()
