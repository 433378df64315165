"""`dayshift usage` over a ledger with a few booked calls, as text and as --json.

The command is mounted on a small Typer app built here, with the same context
the real `dayshift` app hands its commands (a Settings object in ctx.obj).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from dayshift.cli import usage as usage_cli
from dayshift.llm.accounting import Ledger
from dayshift.llm.base import Usage
from dayshift.settings import Settings

NOW = datetime.now(UTC)


def make_app(data_dir: Path) -> typer.Typer:
    app = typer.Typer(pretty_exceptions_enable=False, add_completion=False)

    @app.callback()
    def _root(ctx: typer.Context) -> None:
        ctx.obj = Settings(data_dir=data_dir)

    app.command("usage")(usage_cli.usage)
    return app


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    data_dir = tmp_path / "data"
    with Ledger(data_dir / "usage.sqlite") as ledger:
        ledger.append(model="gpt-4o-mini", usage=Usage(1200, 300), cost_usd=0.00036, tenant="acme")
        ledger.append(model="gpt-4o-mini", usage=Usage(800, 100), cost_usd=0.00018, tenant="acme")
        ledger.append(model="claude-sonnet-4", usage=Usage(1000, 1000), cost_usd=0.018, tenant="globex")
        ledger.append(model="mystery-7b", usage=Usage(50, 5, "tokenizer"), cost_usd=0.0, cost_known=False)
        ledger.append(
            model="gpt-4o", usage=Usage(10**6, 10**5), cost_usd=3.5, tenant="acme", at=NOW - timedelta(days=10)
        )
    return data_dir


def invoke(data_dir: Path, *args: str) -> str:
    result = CliRunner().invoke(make_app(data_dir), ["usage", *args], env={"COLUMNS": "200", "NO_COLOR": "1"})
    assert result.exit_code == 0, result.output
    return result.output


def test_json_groups_calls_by_tenant_and_model_within_the_window(data_dir: Path) -> None:
    data = json.loads(invoke(data_dir, "--since", "7d", "--json"))
    rows = {(r["tenant"], r["model"]): r for r in data["rows"]}
    assert set(rows) == {("acme", "gpt-4o-mini"), ("globex", "claude-sonnet-4"), ("-", "mystery-7b")}
    acme = rows["acme", "gpt-4o-mini"]
    assert (acme["calls"], acme["input_tokens"], acme["output_tokens"]) == (2, 2000, 400)
    assert acme["cost_usd"] == pytest.approx(0.00054)
    assert rows["-", "mystery-7b"]["cost_known"] is False
    assert data["total_cost_usd"] == pytest.approx(0.01854)


def test_since_all_and_since_a_date_include_older_calls(data_dir: Path) -> None:
    everything = json.loads(invoke(data_dir, "--since", "all", "--json"))
    assert everything["since"] is None
    assert everything["total_cost_usd"] == pytest.approx(3.51854)
    day = (NOW - timedelta(days=11)).date().isoformat()
    assert json.loads(invoke(data_dir, "--since", day, "--json"))["total_cost_usd"] == pytest.approx(3.51854)


def test_table_shows_each_row_the_total_and_flags_unpriced_models(data_dir: Path) -> None:
    out = invoke(data_dir, "--since", "24h")
    for heading in ("tenant", "model", "calls", "input tokens", "output tokens", "cost USD"):
        assert heading in out
    assert "globex" in out and "claude-sonnet-4" in out and "0.018000" in out
    assert "2,000" in out and "0.018540" in out  # acme's input tokens; the total cost
    assert "0.000000*" in out and "no price for mystery-7b" in out and "DAYSHIFT_LLM__PRICES_FILE" in out


def test_an_empty_data_dir_reports_no_calls_and_creates_nothing(tmp_path: Path) -> None:
    out = invoke(tmp_path, "--since", "7d")
    assert "no LLM calls recorded" in out
    assert not (tmp_path / "usage.sqlite").exists()


def test_a_bad_since_names_the_accepted_forms(data_dir: Path) -> None:
    result = CliRunner().invoke(make_app(data_dir), ["usage", "--since", "last week"])
    assert result.exit_code == 2
    assert "7d, 24h, 90m" in result.output and "YYYY-MM-DD" in result.output
