"""Is this SQL one read-only query? Parsed by sqlglot and checked node by node, before any database sees it.

    check_query("SELECT Name FROM Track LIMIT 5", dialect="sqlite")   -> the statement, as given
    check_query("DROP TABLE Track", dialect="sqlite")                  -> ToolError (refused)

Accepted: exactly one statement whose root is a query (SELECT, UNION/INTERSECT/EXCEPT, WITH ...
SELECT), containing no statement that writes or changes anything anywhere in its tree (a CTE that
DELETEs ... RETURNING, SELECT ... INTO, FOR UPDATE locks) and no function on DENIED_FUNCTIONS
(files, extensions, sleeping, sequences, settings, other servers). Whatever sqlglot cannot parse
as a query -- PRAGMA, ATTACH, VACUUM, COPY, EXPLAIN ANALYZE -- is refused.

This is the first of three locks: the databases are also opened read-only (SQLite `mode=ro` with
an authorizer that allows reads only; a Postgres READ ONLY transaction), so a statement this
check wrongly let through still cannot write.

Left out: checking column and table names (the database's own error says which is unknown) and
cost limits beyond the time limit.
"""

from __future__ import annotations

from sqlglot import ParseError, TokenError, exp, parse

from dayshift.agents.tools.base import ToolError

__all__ = ["DENIED_FUNCTIONS", "check_query"]

_WRITES = (
    exp.Insert, exp.Update, exp.Delete, exp.Merge, exp.Create, exp.Drop, exp.Alter, exp.TruncateTable,
    exp.Command, exp.Pragma, exp.Attach, exp.Detach, exp.Copy, exp.LoadData, exp.Into, exp.Lock, exp.Set,
    exp.Use, exp.Transaction, exp.Commit, exp.Rollback, exp.Grant, exp.Analyze, exp.Execute,
)
DENIED_FUNCTIONS = frozenset({
    # SQLite: extensions and files
    "load_extension", "readfile", "writefile", "edit", "fts3_tokenizer", "zipfile", "sqlar_compress",
    # Postgres: files, servers, sleeping, sequences, settings, locks, sessions
    "pg_read_file", "pg_read_binary_file", "pg_ls_dir", "pg_stat_file", "pg_sleep", "pg_sleep_for",
    "pg_sleep_until", "lo_import", "lo_export", "lo_get", "lo_put", "dblink", "dblink_exec", "dblink_connect",
    "nextval", "setval", "set_config", "pg_reload_conf", "pg_terminate_backend", "pg_cancel_backend",
    "pg_advisory_lock", "pg_advisory_xact_lock", "pg_try_advisory_lock", "pg_notify", "query_to_xml",
    "txid_current", "pg_switch_wal", "pg_rotate_logfile", "pg_promote",
})


def check_query(sql: str, *, dialect: str) -> str:
    """`sql` if it is one read-only query in `dialect` ("sqlite", "postgres"); ToolError otherwise."""
    text = sql.strip().rstrip(";").strip()
    if not text:
        raise ToolError("the SQL statement is empty: write one SELECT query")
    try:
        statements = [s for s in parse(text, read=dialect) if s is not None]
    except (ParseError, TokenError) as exc:
        raise ToolError(f"the SQL does not parse: {_first_line(exc)}; write one SELECT query") from None
    if len(statements) != 1:
        raise ToolError(f"{len(statements)} statements were given: send exactly one SELECT query per call",
                        refused=True)
    statement = statements[0]
    if not isinstance(statement, exp.Query):
        raise ToolError(f"only SELECT queries may run, and this reads as {_kind(statement)}: the databases are "
                        "read-only", refused=True)
    for node in statement.walk():
        if isinstance(node, _WRITES):
            raise ToolError(f"the query contains {_kind(node)}, which could change data or the session: only "
                            "reading is allowed", refused=True)
        if isinstance(node, exp.Func) and _function_name(node) in DENIED_FUNCTIONS:
            raise ToolError(f"the function {_function_name(node)}() is not allowed: it reaches outside the "
                            "tables (files, servers, settings or time)", refused=True)
    return text


def _function_name(node: exp.Func) -> str:
    if isinstance(node, exp.Anonymous):
        return str(node.name).lower()
    return node.sql_name().lower()


def _kind(node: exp.Expression) -> str:
    if isinstance(node, exp.Command):
        return str(node.this).upper() or "command"
    return type(node).__name__.upper()


def _first_line(exc: Exception) -> str:
    return str(exc).strip().splitlines()[0][:200] if str(exc).strip() else type(exc).__name__
