"""Token and cost accounting for LLM calls, and the budgets that stop one.

    PriceTable   (llm/pricing.py) model -> USD per million input and output tokens
    UsageLedger  the interface: append a call, sum what a tenant spent, summarise
    Ledger       <data_dir>/usage.sqlite, one row per call:
                   calls(at_s, tenant, model, input_tokens, output_tokens,
                         usage_source, cost_usd, cost_known, request_id)
                 (or PostgresLedger, llm/ledger_postgres.py, when database.url is set;
                 dayshift.assemble.open_ledger chooses, dayshift.testing.ledger_contract
                 holds both to the same behaviour)
    UsageMeter   the `Meter` that LLMClient calls: `check` before a call (its
                 worst-case cost against the request budget and the tenant's
                 daily budget), `record` after it (usage the backend did not
                 report is counted with its tokenizer, priced, and booked)

A model missing from the price table costs $0, is logged once, and its rows are
booked with cost_known = 0 so `dayshift usage` can flag them. Days are UTC days.

Left out:
- Reservations. `check` reads what a tenant has booked so far; calls still in
  flight are not counted, so concurrent calls can together overshoot a daily
  budget by up to their own estimates.
- Budgets for unpriced models: they cost $0, so no budget stops them.
- Tokenizer counts cover the message text, not the chat template's framing tokens.
"""

from __future__ import annotations

import logging
import math
import sqlite3
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Protocol, Self

from dayshift.errors import BudgetExceededError, ConfigError, StoreError
from dayshift.llm.base import ChatRequest, LLMBackend, Usage
from dayshift.llm.pricing import PriceTable
from dayshift.migrations import baseline, migrate_sqlite
from dayshift.settings import Settings
from dayshift.sqlite import open_database

log = logging.getLogger(__name__)

LEDGER_FILE = "usage.sqlite"  # in Settings.data_dir
NO_TENANT = "-"  # the ledger's tenant for calls made without one
PER_MESSAGE_OVERHEAD_TOKENS = 4  # role and separator tokens a chat template wraps each message in
REPLY_PRIMING_TOKENS = 3  # the assistant header the template opens the reply with
SCHEMA = """
CREATE TABLE IF NOT EXISTS calls (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    at_s REAL NOT NULL,             -- Unix time (UTC) the call was booked
    tenant TEXT NOT NULL,           -- "-" for calls made without a tenant
    model TEXT NOT NULL,
    input_tokens INTEGER NOT NULL,
    output_tokens INTEGER NOT NULL,
    usage_source TEXT NOT NULL,     -- backend | tokenizer
    cost_usd REAL NOT NULL,
    cost_known INTEGER NOT NULL,    -- 0: the model had no price, so cost_usd is 0
    request_id TEXT
);
CREATE INDEX IF NOT EXISTS calls_tenant_at ON calls (tenant, at_s);
CREATE INDEX IF NOT EXISTS calls_at ON calls (at_s);
"""
MIGRATIONS = baseline(SCHEMA)  # dayshift.migrations: append, never edit


@dataclass(frozen=True, slots=True)
class UsageRow:
    """One tenant's use of one model over a period."""

    tenant: str
    model: str
    calls: int
    input_tokens: int
    output_tokens: int
    cost_usd: float
    cost_known: bool  # False: some calls were of a model with no price, booked at $0


class UsageLedger(Protocol):
    where: str  # what to name in messages: the file, or the server and schema

    def append(
        self, *, model: str, usage: Usage, cost_usd: float, tenant: str | None = None, cost_known: bool = True,
        request_id: str | None = None, at: datetime | None = None,
    ) -> None:
        """Book one call (at: now by default); raises StoreError when it cannot be written."""
        ...

    def spent_usd(self, tenant: str | None, *, since: datetime) -> float: ...

    def summary(self, *, since: datetime | None = None) -> list[UsageRow]:
        """Calls, tokens and cost per (tenant, model) since a time (None: all), dearest first."""
        ...

    def close(self) -> None: ...


CallRow = tuple[float, str, str, int, int, str, float, bool, str | None]  # the columns after id, in order


def call_row(
    *, model: str, usage: Usage, cost_usd: float, tenant: str | None, cost_known: bool, request_id: str | None,
    at: datetime | None,
) -> CallRow:
    at_s = time.time() if at is None else _as_utc(at).timestamp()
    return (at_s, tenant or NO_TENANT, model, usage.input_tokens, usage.output_tokens, usage.source, cost_usd,
            cost_known, request_id)  # fmt: skip


def spent_today_usd(ledger: UsageLedger, tenant: str | None) -> float:
    return ledger.spent_usd(tenant, since=utc_midnight())


class Ledger:
    """`UsageLedger` in one SQLite file, append-only. Each write is one short transaction,
    so several processes can book into one file; a writer waits up to busy_timeout_s
    for another's lock."""

    def __init__(self, path: Path, *, busy_timeout_s: float = 30.0) -> None:
        self.path = path
        self.where = str(path)
        self._db = open_database(path, busy_timeout_s=busy_timeout_s)
        self._lock = threading.Lock()  # one connection, shared by this process's threads
        with self._lock:
            migrate_sqlite(self._db, "usage", MIGRATIONS, where=str(path))

    def append(
        self,
        *,
        model: str,
        usage: Usage,
        cost_usd: float,
        tenant: str | None = None,
        cost_known: bool = True,
        request_id: str | None = None,
        at: datetime | None = None,
    ) -> None:
        row = call_row(model=model, usage=usage, cost_usd=cost_usd, tenant=tenant, cost_known=cost_known,
                       request_id=request_id, at=at)  # fmt: skip
        try:
            with self._lock:
                self._db.execute(
                    "INSERT INTO calls (at_s, tenant, model, input_tokens, output_tokens, usage_source, cost_usd,"
                    " cost_known, request_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    row,
                )
        except sqlite3.Error as exc:
            raise StoreError(f"cannot book a call in {self.path}: {exc}; check the file is writable and the "
                             "disk has space") from exc  # fmt: skip

    def spent_usd(self, tenant: str | None, *, since: datetime) -> float:
        with self._lock:
            (total,) = self._db.execute(
                "SELECT COALESCE(SUM(cost_usd), 0) FROM calls WHERE tenant = ? AND at_s >= ?",
                (tenant or NO_TENANT, _as_utc(since).timestamp()),
            ).fetchone()
        return float(total)

    def spent_today_usd(self, tenant: str | None) -> float:
        return spent_today_usd(self, tenant)

    def summary(self, *, since: datetime | None = None) -> list[UsageRow]:
        """Calls, tokens and cost per (tenant, model) since a time (None: all), dearest first."""
        since_s = -math.inf if since is None else _as_utc(since).timestamp()
        with self._lock:
            rows = self._db.execute(
                "SELECT tenant, model, COUNT(*), SUM(input_tokens), SUM(output_tokens), SUM(cost_usd),"
                " MIN(cost_known) FROM calls WHERE at_s >= ? GROUP BY tenant, model"
                " ORDER BY SUM(cost_usd) DESC, tenant, model",
                (since_s,),
            ).fetchall()
        return [UsageRow(t, m, int(n), int(i), int(o), float(c), bool(k)) for t, m, n, i, o, c, k in rows]

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def utc_midnight(now: datetime | None = None) -> datetime:
    """The start of the UTC day holding `now` (default: this moment)."""
    now = datetime.now(UTC) if now is None else _as_utc(now)
    return now.replace(hour=0, minute=0, second=0, microsecond=0)


def utc_timestamp_s(moment: datetime) -> float:
    """Unix time of `moment`, a naive one taken to be UTC."""
    return _as_utc(moment).timestamp()


def _as_utc(moment: datetime) -> datetime:
    """Aware times are converted; naive ones are taken to be UTC already."""
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


# -- the meter ----------------------------------------------------------------


class UsageMeter:
    """The `Meter` of dayshift.llm.base: budgets before a call, tokens and cost after it.

    `tenant_budgets_usd` gives named tenants their own daily budget in place of
    `tenant_daily_budget_usd`; calls without a tenant are budgeted as tenant "-".
    """

    def __init__(
        self,
        prices: PriceTable,
        *,
        ledger: UsageLedger | None = None,
        request_budget_usd: float | None = None,
        tenant_daily_budget_usd: float | None = None,
        tenant_budgets_usd: Mapping[str, float] | None = None,
    ) -> None:
        self.prices = prices
        self.ledger = ledger
        self.request_budget_usd = request_budget_usd
        self.tenant_daily_budget_usd = tenant_daily_budget_usd
        self.tenant_budgets_usd = dict(tenant_budgets_usd or {})
        budgets = [request_budget_usd, tenant_daily_budget_usd, *self.tenant_budgets_usd.values()]
        if any(b is not None and b < 0 for b in budgets):
            raise ConfigError(f"budgets must be >= 0 USD, got {budgets}: fix the budget settings")
        if ledger is None and (tenant_daily_budget_usd is not None or self.tenant_budgets_usd):
            raise ConfigError(
                "a tenant daily budget needs a ledger to know what each tenant spent: "
                f'pass ledger=Ledger(data_dir / "{LEDGER_FILE}")'
            )

    @classmethod
    def from_settings(
        cls, settings: Settings, *, ledger: UsageLedger | None = None,
        tenant_budgets_usd: Mapping[str, float] | None = None,
    ) -> UsageMeter:
        """Prices and budgets from settings; `ledger` by default the SQLite one in data_dir."""
        if ledger is None and settings.database.url is not None:
            raise ConfigError("database.url keeps the usage ledger in Postgres: pass "
                              "ledger=dayshift.assemble.open_ledger(settings)")  # fmt: skip
        return cls(
            PriceTable.load(settings.llm.prices_file),
            ledger=ledger if ledger is not None else Ledger(settings.data_dir / LEDGER_FILE),
            request_budget_usd=settings.llm.request_budget_usd,
            tenant_daily_budget_usd=settings.llm.tenant_daily_budget_usd,
            tenant_budgets_usd=tenant_budgets_usd,
        )

    def daily_budget_usd(self, tenant: str | None) -> float | None:
        return self.tenant_budgets_usd.get(tenant or NO_TENANT, self.tenant_daily_budget_usd)

    def estimate_usd(self, backend: LLMBackend, request: ChatRequest) -> float:
        """The most this call can cost: its prompt, framing included, and max_tokens of output."""
        framing = PER_MESSAGE_OVERHEAD_TOKENS * len(request.messages) + REPLY_PRIMING_TOKENS
        prompt_tokens = sum(backend.count_tokens(m.content) for m in request.messages) + framing
        return self.prices.cost_usd(backend.model, Usage(prompt_tokens, request.max_tokens))

    def check(self, backend: LLMBackend, request: ChatRequest, *, tenant: str | None) -> None:
        daily_budget = self.daily_budget_usd(tenant)
        if self.request_budget_usd is None and daily_budget is None:
            return
        estimate = self.estimate_usd(backend, request)
        if self.request_budget_usd is not None and estimate > self.request_budget_usd:
            raise BudgetExceededError(
                f"this request could cost {format_usd(estimate)}, over the request budget of "
                f"{format_usd(self.request_budget_usd)}: raise DAYSHIFT_LLM__REQUEST_BUDGET_USD or lower max_tokens"
            )
        if daily_budget is None or estimate == 0 or self.ledger is None:
            return  # a call that costs nothing cannot break a budget
        spent = spent_today_usd(self.ledger, tenant)
        if spent + estimate > daily_budget:
            name = tenant or NO_TENANT
            fix = (
                f'raise tenant_budgets_usd["{name}"]' if name in self.tenant_budgets_usd
                else "raise DAYSHIFT_LLM__TENANT_DAILY_BUDGET_USD"
            )
            raise BudgetExceededError(
                f'tenant "{name}" has spent {format_usd(spent)} today (UTC) and this request could cost '
                f"{format_usd(estimate)} more, over its daily budget of {format_usd(daily_budget)}: "
                f"{fix}, lower max_tokens, or wait for the next UTC day"
            )

    def record(
        self,
        backend: LLMBackend,
        request: ChatRequest,
        *,
        output_text: str,
        usage: Usage | None,
        tenant: str | None,
        request_id: str | None = None,
    ) -> tuple[Usage, float]:
        if usage is None:
            usage = Usage(
                input_tokens=sum(backend.count_tokens(m.content) for m in request.messages),
                output_tokens=backend.count_tokens(output_text),
                source="tokenizer",
            )
        cost_usd = self.prices.cost_usd(backend.model, usage)
        if self.ledger is not None:
            try:
                self.ledger.append(
                    model=backend.model, usage=usage, cost_usd=cost_usd, tenant=tenant,
                    cost_known=self.prices.cost_known(backend.model), request_id=request_id,
                )
            except StoreError as exc:
                # The call is done and paid for: losing its answer over the books would cost twice.
                log.error("could not book a %s call: %s", backend.model, exc)
        return usage, cost_usd


def format_usd(amount: float) -> str:
    """$0.10, $1,234.50, $0.000123: cents at least, and the digits that small amounts need."""
    whole, _, fraction = f"{amount:,.6f}".rstrip("0").partition(".")
    return f"${whole}.{fraction.ljust(2, '0')}"
