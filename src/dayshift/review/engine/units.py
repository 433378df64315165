"""The values the project layer passes around: a module of the project, a name it resolved to,
and a function a call may run."""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import PurePosixPath

from dayshift.review.engine.clients import ClientResolver
from dayshift.review.engine.context import RuleContext
from dayshift.review.engine.module import ModuleIndex, Scope


@dataclass(eq=False)
class Unit:
    """One module of the project: where it sits, its index, its client resolver and its findings."""

    key: PurePosixPath  # its path, for import resolution
    index: ModuleIndex
    resolver: ClientResolver
    ctx: RuleContext

    @property
    def path(self) -> str:
        return self.ctx.path


@dataclass(frozen=True, eq=False)
class Symbol:
    kind: str  # module | function | class | value
    unit: Unit
    name: str = ""
    scope: Scope | None = None
    bound: bool = False  # a method reached through an instance (`client = Client()` rebinding the class name)


@dataclass(frozen=True, eq=False)
class Target:
    """A function a call may run. `bound`: called on an instance, so its first parameter is not an argument."""

    unit: Unit
    scope: Scope
    bound: bool
    via: ast.Call | None = None  # the call whose arguments it receives, when not the call itself
