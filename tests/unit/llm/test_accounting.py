"""Prices, the usage ledger and the budgets of dayshift.llm.accounting.

The backend here is a stand-in with a whitespace tokenizer: the meter only uses
a backend's `model` and `count_tokens`, so every token count below is a word
count that can be checked by eye.
"""

from __future__ import annotations

import logging
import multiprocessing
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from dayshift.errors import BudgetExceededError, ConfigError
from dayshift.llm.accounting import (
    PER_MESSAGE_OVERHEAD_TOKENS,
    REPLY_PRIMING_TOKENS,
    Ledger,
    UsageMeter,
    format_usd,
)
from dayshift.llm.base import ChatRequest, Message, Usage
from dayshift.llm.pricing import ModelPrice, PriceTable
from dayshift.settings import Settings

PRICES = """
[models."gpt-4o-mini"]
input_usd_per_mtok = 0.15
output_usd_per_mtok = 0.60
aliases = ["mini-snapshot"]

[models."dear-model"]
input_usd_per_mtok = 10
output_usd_per_mtok = 30

[models."free-local"]
input_usd_per_mtok = 0
output_usd_per_mtok = 0
"""


@dataclass
class WordBackend:
    """Just what a Meter reads from a backend: its model name and tokenizer."""

    model: str = "dear-model"
    is_local: bool = False
    context_window: int = 8192

    def count_tokens(self, text: str) -> int:
        return len(text.split())


def request(words: int = 10, *, max_tokens: int = 100) -> ChatRequest:
    return ChatRequest(
        messages=(Message("system", "be brief"), Message("user", " ".join(["word"] * words))), max_tokens=max_tokens
    )


@pytest.fixture
def prices() -> PriceTable:
    return PriceTable.parse(PRICES, source="test-prices.toml")


@pytest.fixture
def ledger(tmp_path: Path) -> Iterator[Ledger]:
    with Ledger(tmp_path / "usage.sqlite") as book:
        yield book


# -- prices -------------------------------------------------------------------


def test_price_lookup_by_exact_name_alias_dated_suffix_and_vendor_prefix(prices: PriceTable) -> None:
    mini = ModelPrice("gpt-4o-mini", 0.15, 0.60)
    assert prices.price_for("gpt-4o-mini") == mini
    assert prices.price_for("GPT-4o-Mini") == mini
    assert prices.price_for("mini-snapshot") == mini
    assert prices.price_for("gpt-4o-mini-2024-07-18") == mini
    assert prices.price_for("gpt-4o-mini-20250101") == mini
    assert prices.price_for("openai/gpt-4o-mini") == mini
    assert prices.price_for("gpt-4o") is None  # a prefix of a name is not a match


def test_shipped_table_prices_the_bundled_model_at_zero_and_maps_dated_names() -> None:
    shipped = PriceTable.load(None)
    assert shipped.price_for("smollm2-135m-instruct") == ModelPrice("smollm2-135m-instruct", 0.0, 0.0)
    assert shipped.price_for("gpt-4o-mini-2024-07-18") == ModelPrice("gpt-4o-mini", 0.15, 0.60)
    # An exact entry beats the dated-suffix rule: the first gpt-4o snapshot kept its launch price.
    assert shipped.price_for("gpt-4o-2024-05-13") == ModelPrice("gpt-4o-2024-05-13", 5.0, 15.0)
    assert shipped.price_for("gpt-4o-2024-11-20") == ModelPrice("gpt-4o", 2.5, 10.0)
    assert len(shipped.models) >= 10


def test_cost_arithmetic(prices: PriceTable) -> None:
    # 1,000 in at $10/M + 500 out at $30/M = $0.01 + $0.015
    assert prices.cost_usd("dear-model", Usage(1000, 500)) == pytest.approx(0.025)
    # 2M in at $0.15/M + 1M out at $0.60/M
    assert prices.cost_usd("gpt-4o-mini-2024-07-18", Usage(2_000_000, 1_000_000)) == pytest.approx(0.90)
    assert prices.cost_usd("free-local", Usage(10**6, 10**6)) == 0.0
    assert format_usd(0.025) == "$0.025"
    assert format_usd(3) == "$3.00"


def test_unknown_model_costs_zero_is_flagged_and_warned_once(
    prices: PriceTable, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="dayshift.llm.accounting"):
        assert prices.cost_usd("mystery-9b", Usage(1000, 1000)) == 0.0
        assert prices.cost_usd("mystery-9b", Usage(5, 5)) == 0.0
    assert prices.cost_known("mystery-9b") is False
    assert prices.cost_known("gpt-4o-mini") is True
    warnings = [r.getMessage() for r in caplog.records if "mystery-9b" in r.getMessage()]
    assert len(warnings) == 1
    assert 'add [models."mystery-9b"]' in warnings[0] and "DAYSHIFT_LLM__PRICES_FILE" in warnings[0]


@pytest.mark.parametrize(
    ("body", "fragments"),
    [
        ('[models."m"]\ninput_usd_per_mtok = 1\n', ['model "m"', "missing field output_usd_per_mtok"]),
        ('[models."m"]\ninput_usd_per_mtok = -1\noutput_usd_per_mtok = 1\n', ['model "m"', "input_usd_per_mtok"]),
        ('[models."m"]\ninput_usd_per_mtok = "1"\noutput_usd_per_mtok = 1\n', ['model "m"', "must be a number"]),
        ('[models."m"]\ninput_usd_per_mtok = 1\noutput_usd_per_mtok = 1\nprice = 3\n', ['model "m"', "price"]),
        ('[models."m"]\ninput_usd_per_mtok = 1\noutput_usd_per_mtok = 1\naliases = "x"\n', ["aliases"]),
        (
            '[models."a"]\ninput_usd_per_mtok = 1\noutput_usd_per_mtok = 1\naliases = ["b"]\n'
            + '[models."b"]\ninput_usd_per_mtok = 1\noutput_usd_per_mtok = 1\n',
            ['model "b"', 'model "a"'],
        ),
        ("input_usd_per_mtok = 1\n", ['[models."NAME"]']),
        ("[models\n", ["not valid TOML"]),
    ],
)
def test_bad_price_file_names_the_file_model_and_field(tmp_path: Path, body: str, fragments: list[str]) -> None:
    path = tmp_path / "my-prices.toml"
    path.write_text(body)
    with pytest.raises(ConfigError) as caught:
        PriceTable.load(path)
    assert str(path) in str(caught.value)
    for fragment in fragments:
        assert fragment in str(caught.value)


def test_missing_price_file_names_the_setting(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="DAYSHIFT_LLM__PRICES_FILE"):
        PriceTable.load(tmp_path / "absent.toml")


# -- ledger -------------------------------------------------------------------


def test_ledger_rows_survive_reopening_and_summarise_by_tenant_and_model(tmp_path: Path) -> None:
    path = tmp_path / "usage.sqlite"
    with Ledger(path) as book:
        book.append(model="gpt-4o-mini", usage=Usage(100, 20), cost_usd=0.5, tenant="acme", request_id="r1")
        book.append(model="gpt-4o-mini", usage=Usage(50, 10, "tokenizer"), cost_usd=0.25, tenant="acme")
        book.append(model="mystery", usage=Usage(7, 3), cost_usd=0.0, tenant=None, cost_known=False)
    with Ledger(path) as book:
        rows = book.summary()
        assert [(r.tenant, r.model, r.calls, r.input_tokens, r.output_tokens) for r in rows] == [
            ("acme", "gpt-4o-mini", 2, 150, 30),
            ("-", "mystery", 1, 7, 3),
        ]
        assert rows[0].cost_usd == pytest.approx(0.75) and rows[0].cost_known is True
        assert rows[1].cost_known is False
        assert book.spent_today_usd("acme") == pytest.approx(0.75)
        assert book.spent_today_usd("nobody") == 0.0


def test_spent_today_counts_only_the_utc_day(ledger: Ledger) -> None:
    now = datetime.now(UTC)
    ledger.append(model="m", usage=Usage(1, 1), cost_usd=4.0, tenant="acme", at=now - timedelta(days=1, hours=1))
    ledger.append(model="m", usage=Usage(1, 1), cost_usd=1.5, tenant="acme", at=now)
    assert ledger.spent_today_usd("acme") == pytest.approx(1.5)
    assert ledger.spent_usd("acme", since=now - timedelta(days=2)) == pytest.approx(5.5)
    assert [r.calls for r in ledger.summary(since=now - timedelta(hours=1))] == [1]


def _book_rows(path: str, tenant: str, count: int) -> None:
    with Ledger(Path(path)) as book:
        for i in range(count):
            book.append(model="gpt-4o-mini", usage=Usage(10, 1), cost_usd=0.001, tenant=tenant, request_id=str(i))


def test_concurrent_writers_in_two_processes_lose_no_rows(tmp_path: Path) -> None:
    path = str(tmp_path / "usage.sqlite")  # not created yet: the processes race to create it too
    context = multiprocessing.get_context("spawn")
    workers = [context.Process(target=_book_rows, args=(path, tenant, 200)) for tenant in ("a", "b")]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=120)
        assert worker.exitcode == 0
    with Ledger(Path(path)) as book:
        rows = book.summary()
    assert sorted((r.tenant, r.calls) for r in rows) == [("a", 200), ("b", 200)]
    assert sum(r.cost_usd for r in rows) == pytest.approx(0.4)


# -- meter --------------------------------------------------------------------


def test_record_counts_with_the_tokenizer_when_the_backend_reports_no_usage(
    prices: PriceTable, ledger: Ledger
) -> None:
    meter = UsageMeter(prices, ledger=ledger)
    usage, cost = meter.record(
        WordBackend(), request(10), output_text="three word answer", usage=None, tenant="acme", request_id="q1"
    )
    assert usage == Usage(input_tokens=12, output_tokens=3, source="tokenizer")  # "be brief" + 10 words
    assert cost == pytest.approx((12 * 10 + 3 * 30) / 1e6)
    [row] = ledger.summary()
    assert (row.tenant, row.model, row.input_tokens, row.output_tokens) == ("acme", "dear-model", 12, 3)
    assert row.cost_usd == pytest.approx(cost)


def test_record_keeps_usage_the_backend_reported(prices: PriceTable) -> None:
    meter = UsageMeter(prices)  # no ledger: prices only
    reported = Usage(1000, 500)
    assert meter.record(WordBackend(), request(), output_text="x", usage=reported, tenant=None) == (
        reported,
        pytest.approx(0.025),
    )


def test_estimate_is_prompt_with_framing_plus_max_tokens(prices: PriceTable) -> None:
    meter = UsageMeter(prices)
    prompt_tokens = 12 + 2 * PER_MESSAGE_OVERHEAD_TOKENS + REPLY_PRIMING_TOKENS
    expected = (prompt_tokens * 10 + 100 * 30) / 1e6
    assert meter.estimate_usd(WordBackend(), request(10, max_tokens=100)) == pytest.approx(expected)


def test_request_budget_stops_a_call_that_could_cost_too_much(prices: PriceTable) -> None:
    meter = UsageMeter(prices, request_budget_usd=0.01)
    meter.check(WordBackend(), request(max_tokens=300), tenant=None)  # at most ~$0.0093
    with pytest.raises(BudgetExceededError) as caught:
        meter.check(WordBackend(), request(max_tokens=1000), tenant=None)  # at most ~$0.0303
    message = str(caught.value)
    assert "could cost $0.03023," in message and "request budget of $0.01" in message
    assert "DAYSHIFT_LLM__REQUEST_BUDGET_USD" in message and "max_tokens" in message
    meter.check(WordBackend(model="free-local"), request(max_tokens=100_000), tenant=None)


def test_tenant_daily_budget_stops_a_tenant_once_spend_accumulates(prices: PriceTable, ledger: Ledger) -> None:
    meter = UsageMeter(prices, ledger=ledger, tenant_daily_budget_usd=0.05)
    backend, call = WordBackend(), request(10, max_tokens=100)  # estimate ~$0.0033; each booked call $0.0165
    for _ in range(2):
        meter.check(backend, call, tenant="acme")
        meter.record(backend, call, output_text="", usage=Usage(150, 500), tenant="acme")
    assert ledger.spent_today_usd("acme") == pytest.approx(0.033)
    meter.check(backend, call, tenant="acme")  # 0.033 + 0.0033 fits
    meter.record(backend, call, output_text="", usage=Usage(150, 500), tenant="acme")
    with pytest.raises(BudgetExceededError) as caught:  # 0.0495 + 0.0033 does not
        meter.check(backend, call, tenant="acme")
    message = str(caught.value)
    assert 'tenant "acme" has spent $0.0495 today' in message and "daily budget of $0.05" in message
    assert "DAYSHIFT_LLM__TENANT_DAILY_BUDGET_USD" in message
    meter.check(backend, call, tenant="globex")  # another tenant is unaffected
    meter.check(WordBackend(model="free-local"), call, tenant="acme")  # free calls are never stopped


def test_per_tenant_override_replaces_the_default_daily_budget(prices: PriceTable, ledger: Ledger) -> None:
    meter = UsageMeter(prices, ledger=ledger, tenant_daily_budget_usd=1.0, tenant_budgets_usd={"trial": 0.02})
    backend, call = WordBackend(), request(10, max_tokens=100)
    for tenant in ("trial", "paid"):
        meter.record(backend, call, output_text="", usage=Usage(0, 600), tenant=tenant)  # $0.018 each
    with pytest.raises(BudgetExceededError, match=r'tenant "trial".*raise tenant_budgets_usd\["trial"\]'):
        meter.check(backend, call, tenant="trial")
    meter.check(backend, call, tenant="paid")


def test_tenant_budget_without_a_ledger_is_a_config_error(prices: PriceTable) -> None:
    with pytest.raises(ConfigError, match="ledger"):
        UsageMeter(prices, tenant_daily_budget_usd=1.0)


def test_from_settings_reads_prices_budgets_and_data_dir(tmp_path: Path) -> None:
    price_file = tmp_path / "prices.toml"
    price_file.write_text(PRICES)
    settings = Settings(
        data_dir=tmp_path / "data",
        llm={"prices_file": price_file, "request_budget_usd": 0.5, "tenant_daily_budget_usd": 2.0},
    )
    meter = UsageMeter.from_settings(settings)
    assert meter.prices.price_for("dear-model") == ModelPrice("dear-model", 10.0, 30.0)
    assert (meter.request_budget_usd, meter.daily_budget_usd("anyone")) == (0.5, 2.0)
    assert meter.ledger is not None and meter.ledger.path == tmp_path / "data" / "usage.sqlite"
    meter.record(WordBackend(), request(), output_text="ok", usage=None, tenant=None)
    assert (tmp_path / "data" / "usage.sqlite").exists()
    meter.ledger.close()
