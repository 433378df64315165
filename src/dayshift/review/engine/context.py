"""What a rule gets: the module index, the client resolver, and a way to report."""

from __future__ import annotations

import ast
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from dayshift.review.engine.clients import ApiCall, ClientResolver
from dayshift.review.engine.model import Finding
from dayshift.review.engine.module import ModuleIndex

if TYPE_CHECKING:
    from dayshift.review.engine.project import Project


@dataclass
class RuleContext:
    index: ModuleIndex
    resolver: ClientResolver
    path: str
    redactors: tuple[str, ...] = ()
    project: Project | None = None
    findings: list[Finding] = field(default_factory=list)
    _seen: set[tuple[str, int, int]] = field(default_factory=set)
    _api: list[ApiCall] | None = None

    def report(self, rule_id: str, node: ast.AST, message: str) -> None:
        line = getattr(node, "lineno", 1)
        column = getattr(node, "col_offset", 0) + 1
        key = (rule_id, line, column)
        if key in self._seen:
            return
        self._seen.add(key)
        self.findings.append(Finding(self.path, line, column, rule_id, message,
                                     getattr(node, "end_lineno", line) or line,
                                     (getattr(node, "end_col_offset", column - 1) or 0) + 1))

    def api_calls(self) -> list[ApiCall]:
        """Every call in the module that reaches a model or HTTP API (computed once)."""
        if self._api is None:
            self._api = [api for api in map(self.resolver.api_call, self.index.calls) if api is not None]
        return self._api

    def describe(self, node: ast.AST, limit: int = 60) -> str:
        """A short source excerpt for messages: `client.chat.completions.create(...)` (a node of
        another module is unparsed, since this module's source does not hold it)."""
        if id(node) not in self.index.parent:
            text = " ".join(ast.unparse(node.func if isinstance(node, ast.Call) else node).split())
            text = text if len(text) <= limit else text[: limit - 3] + "..."
            return text + "(...)" if isinstance(node, ast.Call) else text
        if isinstance(node, ast.Call):
            head = self.index.segment(node.func) or "call"
            return (head if len(head) <= limit else head[: limit - 3] + "...") + "(...)"
        text = self.index.segment(node) or ""
        text = " ".join(text.split())
        return text if len(text) <= limit else text[: limit - 3] + "..."
