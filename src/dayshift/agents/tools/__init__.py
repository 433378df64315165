"""The agent's tools, found through the `dayshift.tools` entry points -- the built-in ones included.

    [project.entry-points."dayshift.tools"]
    weather = "my_package.tools:Weather"        # a class or function; given the ToolContext if it takes an argument
    (the built-ins are the *_tool factories below: sql = "dayshift.agents.tools:sql_tool")

    tools = build_tools(["search_docs", "sql"], ToolContext(agent=settings.agent, databases=["shop.sqlite"],
                                                            open_searcher=lambda: retriever))

A tool is anything with `name`, `description`, `Args` (a pydantic model: the arguments' schema,
shown to the model and checked on every call) and `run(args, *, run)` (tools/base.py). The
built-ins: search_docs (tools/docs.py), sql (tools/sql.py over tools/databases.py, guarded by
tools/sql_guard.py), calculator (tools/calculator.py), fetch_url (tools/fetch.py, off unless hosts
are allowed).

Left out: per-tenant tool sets (every tenant gets the configured tools) and tool versioning.
"""

from __future__ import annotations

import inspect
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel

from dayshift import plugins
from dayshift.agents.tools.base import Evidence, RunContext, Tool, ToolError, ToolOutput
from dayshift.errors import ConfigError, PluginError
from dayshift.settings import AgentSettings

__all__ = ["Evidence", "RunContext", "Tool", "ToolContext", "ToolError", "ToolOutput", "build_tools",
           "calculator_tool", "fetch_url_tool", "search_docs_tool", "sql_tool"]

TOOL_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,63}$")
RESERVED = frozenset({"final_answer"})


@dataclass(slots=True)
class ToolContext:
    """What tools are built from: the agent's settings, the databases named for this run, the documents' searcher."""

    agent: AgentSettings = field(default_factory=AgentSettings)
    databases: Sequence[str] = ()
    open_searcher: Callable[[], Any] | None = None  # opened only when search_docs is asked for


def build_tools(names: Sequence[str], context: ToolContext) -> list[Tool]:
    """The named tools, built and checked; ConfigError or PluginError naming the tool and the fix."""
    tools: list[Tool] = []
    for name in dict.fromkeys(names):
        factory = plugins.load("tools", name)
        tool = factory(context) if _takes_argument(factory) else factory()
        check_tool(tool, registered=name)
        tools.append(tool)
    return tools


def check_tool(tool: Any, *, registered: str) -> None:
    problems = []
    name = getattr(tool, "name", None)
    if not isinstance(name, str) or not TOOL_NAME.match(name) or name in RESERVED:
        problems.append(f"its name {name!r} must be letters, digits and _ (and not final_answer)")
    if not isinstance(getattr(tool, "description", None), str) or not tool.description.strip():
        problems.append("it needs a description (what it does and when to use it)")
    args = getattr(tool, "Args", None)
    if not (inspect.isclass(args) and issubclass(args, BaseModel)):
        problems.append("its Args must be a pydantic BaseModel class")
    if not callable(getattr(tool, "run", None)):
        problems.append("it needs run(args, *, run)")
    if problems:
        raise PluginError(f'the tool registered as "{registered}" is not usable: {"; ".join(problems)}. '
                          "See dayshift.agents.tools.base.Tool")


def _takes_argument(factory: Callable[..., Any]) -> bool:
    try:
        parameters = inspect.signature(factory).parameters.values()
    except (TypeError, ValueError):
        return False
    return any(p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD) for p in parameters)


# -- the built-in tools' factories (registered in pyproject.toml like any plugin) ------------------------------


def search_docs_tool(context: ToolContext) -> Tool:
    from dayshift.agents.tools.docs import SearchDocs

    if context.open_searcher is None:
        raise ConfigError("search_docs needs an index to search: run `dayshift ingest` on your documents first")
    return SearchDocs(context.open_searcher(), k=context.agent.search_k, passage_chars=context.agent.passage_chars)


def sql_tool(context: ToolContext) -> Tool:
    from dayshift.agents.tools.databases import open_databases
    from dayshift.agents.tools.sql import SqlTool

    a = context.agent
    return SqlTool(open_databases(list(context.databases or a.databases)), max_rows=a.sql_max_rows,
                   timeout_s=a.sql_timeout_s)


def calculator_tool(context: ToolContext) -> Tool:
    from dayshift.agents.tools.calculator import Calculator

    return Calculator()


def fetch_url_tool(context: ToolContext) -> Tool:
    from dayshift.agents.tools.fetch import FetchUrl

    return FetchUrl(context.agent.fetch_allow_hosts, max_bytes=context.agent.fetch_max_bytes)


def close_tools(tools: Sequence[Tool]) -> None:
    """Close what the tools opened (the sql tool's database connection)."""
    for tool in tools:
        database = getattr(tool, "database", None)
        if database is not None:
            database.close()
        close = getattr(tool, "close", None)
        if callable(close):
            close()
