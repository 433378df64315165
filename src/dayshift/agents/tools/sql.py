"""`sql`: one read-only SELECT over the configured databases, its rows returned as a citable result.

    {"query": "SELECT Name FROM Genre ORDER BY Name LIMIT 3"}
      -> [Q1] 3 rows. columns: Name
         Alternative
         ...

Every statement passes sql_guard.check_query (sqlglot) before the database sees it, and the
database itself is read-only (databases.py). The rows shown are capped at `max_rows`, each cell
at `cell_chars`, and the query at `timeout_s` (or what is left of the run's time, if less). The
tool's description carries the schema -- every table with its columns and references -- so the
model writes queries against names that exist.

Left out: query plans (EXPLAIN) shown to the model, and parameterised queries.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

from dayshift.agents.tools.base import Evidence, RunContext, ToolError, ToolOutput
from dayshift.agents.tools.databases import Database, QueryResult
from dayshift.agents.tools.sql_guard import check_query

MAX_QUERY_CHARS = 1500


class SqlArgs(BaseModel):
    query: str = Field(min_length=1, max_length=MAX_QUERY_CHARS, description="one SQL SELECT statement")


class SqlTool:
    name = "sql"
    Args = SqlArgs

    def __init__(self, database: Database, *, max_rows: int = 20, timeout_s: float = 10.0, cell_chars: int = 160):
        self.database = database
        self.max_rows, self.timeout_s, self.cell_chars = max_rows, timeout_s, cell_chars
        tables = "\n".join(t.line() for t in database.describe())
        self.description = (
            f"Run one read-only SQL SELECT query ({database.dialect} dialect) and get up to {max_rows} rows. "
            "Prefer one query with JOIN, GROUP BY, ORDER BY and LIMIT over several. Tables (column type -> "
            f"referenced column):\n{tables}"
        )

    def run(self, args: SqlArgs, *, run: RunContext) -> ToolOutput:
        query = check_query(args.query, dialect=self.database.dialect)
        timeout_s = min(self.timeout_s, run.time_left_s())
        if timeout_s <= 0.05:
            raise ToolError("no time is left in this run's budget for a query")
        result = self.database.query(query, max_rows=self.max_rows, timeout_s=timeout_s)
        body = self.format(result)
        evidence = Evidence(id=run.new_id("Q"), kind="sql", label=query, text=body, row_count=len(result.rows))
        return ToolOutput(text=f"[{evidence.id}] {body}", evidence=(evidence,),
                          data={"columns": list(result.columns), "rows": len(result.rows),
                                "truncated": result.truncated})

    def format(self, result: QueryResult) -> str:
        count = f"{len(result.rows)}{'+' if result.truncated else ''} row{'s' if len(result.rows) != 1 else ''}"
        lines = [f"{count}. columns: {' | '.join(result.columns)}"]
        lines += [" | ".join(self._cell(v) for v in row) for row in result.rows]
        if result.truncated:
            lines.append(f"(only the first {self.max_rows} rows are shown: aggregate, filter or add LIMIT)")
        if not result.rows:
            lines.append("(no rows)")
        return "\n".join(lines)

    def _cell(self, value: Any) -> str:
        if value is None:
            return "NULL"
        if isinstance(value, float):
            text = f"{value:.10g}"
        else:
            text = str(value).replace("\n", " ")
        return text if len(text) <= self.cell_chars else text[: self.cell_chars] + "..."
