"""The scanned tree as one project: every module parsed once, and names followed across modules.

    project = Project()
    routes = project.add("app/routes.py", tree, source)   # a ModuleIndex, resolver and context per file
    project.add("app/llm.py", tree2, source2)
    project.symbol(routes, "app.llm.ask")  # Symbol("function", llm.py's unit, "ask", its scope)
    project.callees(routes, call)          # `ask(q)` in routes.py -> Target(llm.py, the def of ask)

Imports resolve as Python would for a program started from any folder above the importer:
`from agent.loop import run_agent` finds agent/loop.py (or agent/loop/__init__.py) in the
importer's folder or a folder above it; `from .llm import ask` is relative to the importer's
package; a name a package's __init__.py re-exports is followed to its definition. Names of the
standard library and of the libraries the rules model (openai, anthropic, langchain, ...) never
resolve into the project, so a services/openai.py does not shadow the SDK it imports. When a
package's __init__.py is not among the scanned files, a name imported from the package is
looked up among the package's modules, and used only when exactly one of them defines it.
Calls are resolved by engine/calls.py.

Every index is built once, and every import is resolved at most once (cached), so a project
costs one pass over its files plus a dictionary look-up per name followed.

Left out: `sys.path` changes and installed packages (a module that is not in a folder above the
importer, among the reviewed files, is not found), star imports, and names bound by `exec`.
"""

from __future__ import annotations

import ast
import sys
from collections import defaultdict
from pathlib import PurePosixPath

from dayshift.review.engine.calls import CallGraph
from dayshift.review.engine.clients import ClientResolver
from dayshift.review.engine.context import RuleContext
from dayshift.review.engine.libraries import MODELLED_LIBRARIES
from dayshift.review.engine.module import ModuleIndex, Scope
from dayshift.review.engine.units import Symbol, Target, Unit

EXTERNAL = set(sys.stdlib_module_names) | MODELLED_LIBRARIES


class Project:
    def __init__(self) -> None:
        self.units: list[Unit] = []
        self.shared: dict[str, object] = {}  # analyses the rules of one run share (function summaries)
        self._by_key: dict[PurePosixPath, Unit] = {}
        self._by_dir: dict[PurePosixPath, list[Unit]] = defaultdict(list)
        self._by_index: dict[int, Unit] = {}
        self._modules: dict[tuple[PurePosixPath, str], Unit | None] = {}
        self._symbols: dict[tuple[int, str], Symbol | None] = {}
        self.graph = CallGraph(self)

    def add(self, path: str, tree: ast.Module, source: str, *, key: str | None = None,
            redactors: tuple[str, ...] = ()) -> Unit:
        index = ModuleIndex(tree, source, path)
        resolver = ClientResolver(index)
        unit = Unit(PurePosixPath(key or path), index, resolver,
                    RuleContext(index, resolver, path, redactors=redactors, project=self))
        resolver.project, resolver.unit = self, unit
        self.units.append(unit)
        self._by_key[unit.key] = unit
        self._by_dir[unit.key.parent].append(unit)
        self._by_index[id(index)] = unit
        return unit

    def unit_of(self, index: ModuleIndex) -> Unit:
        return self._by_index[id(index)]

    # ---- modules and names -------------------------------------------------------------------
    def module_named(self, importer: Unit, dotted: str) -> Unit | None:
        """The project module an import names: "agent.loop", ".openai_client", ".." (a package)."""
        cache_key = (importer.key.parent, dotted)
        if cache_key not in self._modules:
            self._modules[cache_key] = self._find_module(importer, dotted)
        return self._modules[cache_key]

    def _find_module(self, importer: Unit, dotted: str) -> Unit | None:
        level = len(dotted) - len(dotted.lstrip("."))
        parts = [p for p in dotted[level:].split(".") if p]
        if level:
            base = importer.key.parent
            for _ in range(level - 1):
                base = base.parent
            return self._module_file(base, parts)
        if not parts or parts[0] in EXTERNAL:
            return None
        for base in (importer.key.parent, *importer.key.parent.parents):
            found = self._module_file(base, parts)
            if found is not None and found is not importer:
                return found
        return None

    def _module_file(self, base: PurePosixPath, parts: list[str]) -> Unit | None:
        folder = base.joinpath(*parts)
        candidates = [folder / "__init__.py", folder / "__init__.pyi"]
        if parts:
            candidates[:0] = [folder.parent / f"{parts[-1]}.py", folder.parent / f"{parts[-1]}.pyi"]
        return next((self._by_key[c] for c in candidates if c in self._by_key), None)

    def symbol(self, importer: Unit, qualname: str | None, depth: int = 0) -> Symbol | None:
        """What an imported dotted name is: a project module, function, class or module-level value."""
        if not qualname or depth > 4:
            return None
        cache_key = (id(importer), qualname)
        if cache_key not in self._symbols:
            self._symbols[cache_key] = None  # a cycle of re-exports resolves to nothing
            self._symbols[cache_key] = self._find_symbol(importer, qualname, depth)
        return self._symbols[cache_key]

    def _find_symbol(self, importer: Unit, qualname: str, depth: int) -> Symbol | None:
        level = len(qualname) - len(qualname.lstrip("."))
        parts = [p for p in qualname[level:].split(".") if p]
        if not level and (not parts or parts[0] in EXTERNAL):
            return None
        for cut in range(len(parts), -1 if level else 0, -1):
            module = self.module_named(importer, "." * level + ".".join(parts[:cut]))
            if module is not None:
                return self._member(module, parts[cut:], depth)
        return self._package_member(importer, level, parts)

    def _member(self, unit: Unit, rest: list[str], depth: int) -> Symbol | None:
        if not rest:
            return Symbol("module", unit)
        index, name, tail = unit.index, rest[0], rest[1:]
        if name in index.class_defs:
            if not tail:
                return Symbol("class", unit, name)
            method = index.methods.get((name, tail[0])) if len(tail) == 1 else None
            # `discordClient = discordClient()` at module level: the name is an instance of its class
            instance = any(isinstance(b.value, ast.Call) and isinstance(b.value.func, ast.Name)
                           and b.value.func.id == name for b in index.bindings.get(("global", "", name), []))
            return Symbol("function", unit, tail[0], method, bound=instance) if method else None
        if name in index.top_functions and not tail:
            return Symbol("function", unit, name, index.top_functions[name])
        if name in index.imports:  # re-exported: `from .core import Swarm` in a package's __init__.py
            return self.symbol(unit, ".".join([index.imports[name], *tail]), depth + 1)
        if not tail and ("global", "", name) in index.bindings:
            return Symbol("value", unit, name)
        return None

    def _package_member(self, importer: Unit, level: int, parts: list[str]) -> Symbol | None:
        """`from swarm import Swarm` when swarm/__init__.py was not scanned: the one module of
        swarm/ that defines Swarm at its top level."""
        if len(parts) < 2 and not (level and parts):
            return None
        package, name = parts[:-1], parts[-1]
        if level:
            base = importer.key.parent
            for _ in range(level - 1):
                base = base.parent
            folders = [base.joinpath(*package)]
        else:
            folders = [b.joinpath(*package) for b in (importer.key.parent, *importer.key.parent.parents)]
        for folder in folders:
            units = self._by_dir.get(folder)
            if not units:
                continue
            if any(u.key.name in {"__init__.py", "__init__.pyi"} for u in units):
                return None
            owners = [u for u in units if name in u.index.top_functions or name in u.index.class_defs]
            return self._member(owners[0], [name], 0) if len(owners) == 1 else None
        return None

    # ---- classes -----------------------------------------------------------------------------
    def class_named(self, unit: Unit, expr: ast.expr | None) -> Symbol | None:
        """The project class an expression names: `Engine`, `engines.Engine`, an imported Engine."""
        if isinstance(expr, ast.Name) and expr.id in unit.index.class_defs:
            return Symbol("class", unit, expr.id)
        if isinstance(expr, ast.Subscript):  # Optional[Engine]
            return self.class_named(unit, expr.slice)
        if isinstance(expr, ast.Constant) and isinstance(expr.value, str) and expr.value.isidentifier():
            return self.class_named(unit, ast.Name(expr.value))
        found = self.symbol(unit, unit.index.qualname(expr)) if expr is not None else None
        return found if found is not None and found.kind == "class" else None

    # ---- calls (engine/calls.py) ----------------------------------------------------------------
    def callees(self, unit: Unit, call: ast.Call) -> list[Target]:
        return self.graph.callees(unit, call)

    def calls_in(self, unit: Unit, scope: Scope) -> list[ast.Call]:
        return self.graph.calls_in(unit, scope)

    def nodes(self, unit: Unit, scope: Scope) -> list[ast.AST]:
        return self.graph.nodes(unit, scope)

    def reach(self, starts: list[tuple[Unit, Scope]]) -> set[int]:
        return self.graph.reach(starts)

    @property
    def request_path(self) -> set[int]:
        return self.graph.request_path
