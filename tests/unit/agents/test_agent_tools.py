"""The agent's built-in tools on real inputs: the SQL guard and read-only SQLite, the calculator, fetch_url's
allow-list, and tools registered as `dayshift.tools` entry points."""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path

import pytest
from pydantic import BaseModel

from dayshift.agents.tools import ToolContext, build_tools, check_tool
from dayshift.agents.tools.base import RunContext, ToolError, clip
from dayshift.agents.tools.calculator import Calculator, CalculatorArgs, evaluate
from dayshift.agents.tools.databases import open_databases
from dayshift.agents.tools.fetch import FetchArgs, FetchUrl, check_url, host_allowed
from dayshift.agents.tools.sql import SqlArgs, SqlTool
from dayshift.agents.tools.sql_guard import check_query
from dayshift.errors import ConfigError, PluginError
from dayshift.settings import AgentSettings


def _run() -> RunContext:
    return RunContext(deadline=time.monotonic() + 30)


@pytest.fixture
def shop(tmp_path: Path) -> Path:
    path = tmp_path / "shop.sqlite"
    db = sqlite3.connect(path)
    db.executescript("""
        CREATE TABLE Customer (CustomerId INTEGER PRIMARY KEY, Name NVARCHAR(40), Country TEXT);
        CREATE TABLE Invoice (InvoiceId INTEGER PRIMARY KEY, CustomerId INTEGER REFERENCES Customer(CustomerId),
                              Total NUMERIC(10,2));
        INSERT INTO Customer VALUES (1, 'Ada', 'UK'), (2, 'Grace', 'USA'), (3, 'Linus', 'Finland');
        INSERT INTO Invoice VALUES (1, 1, 10.5), (2, 1, 4.5), (3, 2, 7.25);
    """)
    db.commit()
    db.close()
    return path


@pytest.mark.parametrize("sql", [
    "SELECT 1", "select Name from Customer limit 2;", "WITH t AS (SELECT 1 AS x) SELECT x FROM t",
    "SELECT 1 UNION SELECT 2",
])
def test_guard_accepts_one_read_only_query(sql: str) -> None:
    assert check_query(sql, dialect="sqlite") == sql.strip().rstrip(";")


@pytest.mark.parametrize(("sql", "words"), [
    ("DROP TABLE Customer", "only SELECT"),
    ("DELETE FROM Invoice", "only SELECT"),
    ("UPDATE Customer SET Name = 'x'", "only SELECT"),
    ("SELECT 1; DELETE FROM Invoice", "2 statements"),
    ("PRAGMA table_info(Customer)", "SELECT"),
    ("ATTACH DATABASE '/tmp/x' AS x", "SELECT"),
    ("SELECT load_extension('evil')", "load_extension"),
    ("SELECT pg_sleep(10)", "not allowed"),
])
def test_guard_refuses_writes_and_escapes(sql: str, words: str) -> None:
    with pytest.raises(ToolError) as caught:
        check_query(sql, dialect="sqlite" if "pg_" not in sql else "postgres")
    assert words in str(caught.value)


def test_guard_names_a_parse_error() -> None:
    with pytest.raises(ToolError, match="does not parse"):
        check_query("SELECT FROM WHERE (", dialect="sqlite")


def test_sql_tool_shows_the_schema_and_returns_citable_rows(shop: Path) -> None:
    tool = SqlTool(open_databases([str(shop)]), max_rows=2)
    assert "Customer(CustomerId INTEGER, Name TEXT, Country TEXT)" in tool.description
    assert "CustomerId INTEGER -> Customer.CustomerId" in tool.description
    out = tool.run(SqlArgs(query="SELECT c.Name, SUM(i.Total) AS spent FROM Invoice i JOIN Customer c "
                                 "USING (CustomerId) GROUP BY c.Name ORDER BY spent DESC"), run=_run())
    assert out.evidence[0].id == "Q1" and out.evidence[0].kind == "sql"
    assert "Ada | 15" in out.text and "Grace | 7.25" in out.text
    many = tool.run(SqlArgs(query="SELECT Name FROM Customer"), run=_run())
    assert "only the first 2 rows" in many.text and many.data["truncated"] is True
    tool.database.close()


def test_the_database_itself_refuses_writes_the_guard_missed(shop: Path) -> None:
    database = open_databases([str(shop)])
    with pytest.raises(ToolError):
        database.query("DELETE FROM Invoice", max_rows=5, timeout_s=5)
    assert database.query("SELECT COUNT(*) FROM Invoice", max_rows=5, timeout_s=5).rows == ((3,),)
    database.close()


def test_a_slow_query_stops_at_its_time_limit(shop: Path) -> None:
    database = open_databases([str(shop)])
    forever = ("WITH RECURSIVE n(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM n) SELECT COUNT(*) FROM n")
    with pytest.raises(ToolError, match="limit and was stopped"):
        database.query(forever, max_rows=5, timeout_s=0.3)
    database.close()


def test_csv_files_become_tables(tmp_path: Path) -> None:
    (tmp_path / "beers.csv").write_text("name,abv\nPils,4.8\nStout,6.5\n", encoding="utf-8")
    database = open_databases([str(tmp_path / "beers.csv")])
    assert database.query("SELECT MAX(abv) FROM beers", max_rows=5, timeout_s=5).rows == ((6.5,),)
    database.close()


def test_no_database_is_a_config_error_that_says_what_to_pass() -> None:
    with pytest.raises(ConfigError, match="--db"):
        open_databases([])


@pytest.mark.parametrize(("expression", "value"), [
    ("17.5 / 100 * 2328.60", "407.505"), ("round(1000 * 1.035 ** 10, 2)", "1410.6"), ("2 ^ 10", "1024"),
    ("-(3 + 4) * 2", "-14"), ("sqrt(16) + abs(-1)", "5"),
])
def test_calculator_does_arithmetic(expression: str, value: str) -> None:
    out = Calculator().run(CalculatorArgs(expression=expression), run=_run())
    assert out.data["value"] == value and out.evidence[0].id == "C1"


@pytest.mark.parametrize(("expression", "words"), [
    ("__import__('os').system('ls')", "not arithmetic"), ("open('/etc/passwd')", "not arithmetic"),
    ("9 ** 9 ** 9", "too large"), ("1 / 0", "division by zero"), ("(1).__class__", "not arithmetic"),
    ("'a' * 3", "not arithmetic"),
])
def test_calculator_refuses_everything_else(expression: str, words: str) -> None:
    with pytest.raises(ToolError, match=words):
        evaluate(expression)


def test_fetch_url_is_off_without_allowed_hosts_and_refuses_other_hosts() -> None:
    with pytest.raises(ConfigError, match="fetch_allow_hosts"):
        FetchUrl([])
    assert host_allowed("csrc.nist.gov", ["*.nist.gov"]) and not host_allowed("nist.gov.evil.example", ["*.nist.gov"])
    for url in ("https://evil-analytics.example/c?d=1", "file:///etc/passwd", "https://u:p@docs.nist.gov/"):
        with pytest.raises(ToolError) as caught:
            check_url(url, ["docs.nist.gov"])
        assert caught.value.refused
    with pytest.raises(ToolError, match="not on the allowed hosts"):
        FetchUrl(["docs.nist.gov"]).run(FetchArgs(url="http://127.0.0.1:9/x"), run=_run())


def test_built_in_tools_load_through_their_entry_points(shop: Path) -> None:
    tools = build_tools(["sql", "calculator"], ToolContext(agent=AgentSettings(), databases=[str(shop)]))
    assert [t.name for t in tools] == ["sql", "calculator"]
    with pytest.raises(ConfigError, match="dayshift ingest"):
        build_tools(["search_docs"], ToolContext())
    with pytest.raises(PluginError):
        build_tools(["no_such_tool"], ToolContext())


def test_a_users_tool_without_a_schema_is_refused_with_the_reason() -> None:
    class Bad:
        name = "final_answer"
        description = ""
        Args = dict

    with pytest.raises(PluginError) as caught:
        check_tool(Bad(), registered="bad")
    assert "not final_answer" in str(caught.value) and "pydantic" in str(caught.value)

    class WeatherArgs(BaseModel):
        city: str

    class Good:
        name, description = "weather", "Today's forecast."
        Args = WeatherArgs

        def run(self, args: BaseModel, *, run: RunContext) -> None: ...

    check_tool(Good(), registered="weather")


def test_clip_says_how_much_was_left_out() -> None:
    text = "word " * 200
    clipped = clip(text, 100)
    assert len(clipped) < 160 and "more characters not shown" in clipped
