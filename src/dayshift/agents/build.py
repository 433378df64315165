"""An Agent from Settings: the LLM client, the prompt from the registry, the tools by name.

    agent, tools = open_agent(settings, tools=["search_docs", "sql"], databases=["chinook.sqlite"])
    try: agent.run(task) finally: close_tools(tools)

Tool names may be given short: "docs" is search_docs, "calc" the calculator, "fetch" fetch_url.
search_docs opens the configured index only when it is asked for.

Left out: caching agents between requests (each request builds its tools; the LLM client is shared).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from dayshift.agents.loop import Agent
from dayshift.agents.tools import ToolContext, build_tools
from dayshift.agents.tools.base import Tool
from dayshift.settings import Settings

ALIASES = {"docs": "search_docs", "search": "search_docs", "calc": "calculator", "fetch": "fetch_url",
           "web": "fetch_url"}


def tool_names(text: str | Sequence[str]) -> list[str]:
    """ "docs,sql" -> ["search_docs", "sql"]."""
    names = text.split(",") if isinstance(text, str) else list(text)
    return [ALIASES.get(n.strip(), n.strip()) for n in names if n.strip()]


def open_agent(settings: Settings, *, tools: Sequence[str] | None = None, databases: Sequence[str] = (),
               llm: Any = None, searcher: Any = None, tenant: str | None = None) -> tuple[Agent, list[Tool]]:
    from dayshift.assemble import open_llm, open_retriever
    from dayshift.prompts import PromptRegistry

    prompt = PromptRegistry.from_settings(settings).get(settings.agent.prompt)  # a bad ref fails first
    names = tool_names(tools if tools is not None else settings.agent.tools)

    def open_searcher() -> Any:
        return searcher if searcher is not None else open_retriever(settings)

    built = build_tools(names, ToolContext(agent=settings.agent, databases=list(databases),
                                           open_searcher=open_searcher))
    return Agent(llm or open_llm(settings), built, prompt=prompt, settings=settings.agent, tenant=tenant), built
