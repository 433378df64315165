"""The scanned tree as one project: every module parsed once, and names followed across modules.

    project = Project()
    routes = project.add("app/routes.py", tree, source)   # a ModuleIndex, resolver and context per file
    project.add("app/llm.py", tree2, source2)
    project.callees(routes, call)        # `ask(q)` in routes.py -> Target(llm.py, the def of ask)
    project.request_path                 # every function a route handler reaches, in any module

Imports resolve as Python would for a program started from any folder above the importer:
`from agent.loop import run_agent` finds agent/loop.py (or agent/loop/__init__.py) in the
importer's folder or a folder above it; `from .llm import ask` is relative to the importer's
package; a name a package's __init__.py re-exports is followed to its definition. Names of the
standard library and of the libraries the rules model (openai, anthropic, langchain, ...) never
resolve into the project, so a services/openai.py does not shadow the SDK it imports. When a
package's __init__.py is not among the scanned files, a name imported from the package is
looked up among the package's modules, and used only when exactly one of them defines it.

Calls resolve to functions: `f()` (a def of this module or an imported one), `mod.f()`,
`Class()` (its __init__), `self.m()` / `cls.m()` / `super().m()` (the class, then its bases,
in any module), and `obj.m()` where `obj = Class(...)` or `obj: Class`.

Every index is built once, and every import and call is resolved at most once (cached), so a
project costs one pass over its files plus a dictionary look-up per name followed.

Left out: dynamic dispatch (`getattr`, functions looked up by name in a registry), objects whose
class cannot be told from their construction or annotation, monkey-patching and `sys.path`
changes (a module that is not in a folder above the importer is not found).
"""

from __future__ import annotations

import ast
import sys
from collections import defaultdict
from dataclasses import dataclass
from pathlib import PurePosixPath

from dayshift.review.engine.clients import MODELLED_LIBRARIES, ClientResolver
from dayshift.review.engine.context import RuleContext
from dayshift.review.engine.module import ModuleIndex, Scope, reachable_nodes

EXTERNAL = set(sys.stdlib_module_names) | MODELLED_LIBRARIES


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
class Target:
    """A function a call may run. `bound`: called on an instance, so its first parameter is not an argument."""

    unit: Unit
    scope: Scope
    bound: bool


@dataclass(frozen=True, eq=False)
class Symbol:
    kind: str  # module | function | class | value
    unit: Unit
    name: str = ""
    scope: Scope | None = None


class Project:
    def __init__(self) -> None:
        self.units: list[Unit] = []
        self.shared: dict[str, object] = {}  # analyses the rules of one run share (function summaries)
        self._by_key: dict[PurePosixPath, Unit] = {}
        self._by_dir: dict[PurePosixPath, list[Unit]] = defaultdict(list)
        self._by_index: dict[int, Unit] = {}
        self._modules: dict[tuple[PurePosixPath, str], Unit | None] = {}
        self._symbols: dict[tuple[int, str], Symbol | None] = {}
        self._callees: dict[int, list[Target]] = {}
        self._calls: dict[int, list[ast.Call]] = {}
        self._nodes: dict[int, list[ast.AST]] = {}
        self._request_path: set[int] | None = None

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
            return Symbol("function", unit, tail[0], method) if method else None
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

    def method(self, cls: Symbol, name: str, depth: int = 0) -> Target | None:
        """`name` looked up on the class, then on its bases (depth first, as simple MROs resolve)."""
        scope = cls.unit.index.methods.get((cls.name, name))
        if scope is not None:
            return Target(cls.unit, scope, bound=not _is_static(scope))
        node = cls.unit.index.class_defs.get(cls.name)
        if node is None or depth > 5:
            return None
        for base in node.bases:
            parent = self.class_named(cls.unit, base)
            found = self.method(parent, name, depth + 1) if parent is not None else None
            if found is not None:
                return found
        return None

    # ---- calls -------------------------------------------------------------------------------
    def callees(self, unit: Unit, call: ast.Call) -> list[Target]:
        """The project functions `call` may run (cached per call)."""
        found = self._callees.get(id(call))
        if found is None:
            found = self._callees[id(call)] = self._resolve(unit, call)
        return found

    def _resolve(self, unit: Unit, call: ast.Call) -> list[Target]:
        index, func = unit.index, call.func
        scope = index.enclosing_scope(call)
        if isinstance(func, ast.Name):
            local = [s for s in index.functions.get(func.id, []) if s.cls is None]
            if local:
                return [Target(unit, s, False) for s in local]
            if func.id in index.class_defs:
                return self._targets(Symbol("class", unit, func.id))
            return self._targets(self.symbol(unit, index.imports.get(func.id)))
        if not isinstance(func, ast.Attribute):
            return []
        receiver = func.value
        own_class = next((s.cls for s in index.scope_chain(scope) if s.cls), None)
        if isinstance(receiver, ast.Name) and receiver.id in {"self", "cls"} or _is_super(receiver):
            if own_class in index.class_defs:
                cls = Symbol("class", unit, own_class)
                found = self._super_method(cls, func.attr) if _is_super(receiver) else self.method(cls, func.attr)
                return [found] if found is not None else []
            return [Target(unit, s, True) for s in index.functions.get(func.attr, []) if s.cls is not None]
        qualname = index.qualname(func)
        if qualname is not None:
            return self._targets(self.symbol(unit, qualname))
        cls = self._instance_class(unit, receiver, scope)
        found = self.method(cls, func.attr) if cls is not None else None
        return [found] if found is not None else []

    def _super_method(self, cls: Symbol, name: str) -> Target | None:
        for base in cls.unit.index.class_defs[cls.name].bases:
            parent = self.class_named(cls.unit, base)
            found = self.method(parent, name) if parent is not None else None
            if found is not None:
                return found
        return None

    def _targets(self, found: Symbol | None) -> list[Target]:
        if found is None:
            return []
        if found.kind == "function" and found.scope is not None:
            return [Target(found.unit, found.scope, bound=found.scope.cls is not None and _is_classmethod(found.scope))]
        if found.kind == "class":
            init = self.method(found, "__init__")
            return [init] if init is not None else []
        return []

    def _instance_class(self, unit: Unit, receiver: ast.expr, scope: Scope) -> Symbol | None:
        """The project class of `obj` in `obj.m()`: from `obj = Class(...)`, a parameter `obj: Class`,
        or `Class(...).m()` itself."""
        if isinstance(receiver, ast.Call):
            return self.class_named(unit, receiver.func)
        if not isinstance(receiver, (ast.Name, ast.Attribute)):
            return None
        for binding in unit.index.lookup(receiver, scope):
            value = binding.value.value if isinstance(binding.value, ast.Await) else binding.value
            if isinstance(value, ast.Call):
                found = self.class_named(unit, value.func)
                if found is not None:
                    return found
        if isinstance(receiver, ast.Name):
            for probe in unit.index.scope_chain(scope):
                if probe.node is None:
                    break
                if receiver.id in probe.params:
                    return self.class_named(unit, _annotation(probe.node, receiver.id))
        return None

    def calls_in(self, unit: Unit, scope: Scope) -> list[ast.Call]:
        """The calls a function's body can reach (nested functions included), or the module body's."""
        key = scope.id or id(unit)
        found = self._calls.get(key)
        if found is None:
            if scope.node is None:
                found = [c for c in unit.index.calls if unit.index.root_of(unit.index.enclosing_scope(c)) is scope]
            else:
                found = [n for n in reachable_nodes(scope.node.body) if isinstance(n, ast.Call)]
            self._calls[key] = found
        return found

    def nodes(self, unit: Unit, scope: Scope) -> list[ast.AST]:
        """Every node of a root function (nested functions included), or of the module body's
        statements outside functions and classes (cached: several rules ask)."""
        key = scope.id or id(unit)
        found = self._nodes.get(key)
        if found is None:
            if scope.node is not None:
                found = list(ast.walk(scope.node))
            else:
                found = [n for stmt in unit.index.tree.body
                         if not isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))
                         for n in ast.walk(stmt)]
            self._nodes[key] = found
        return found

    # ---- paths through the call graph --------------------------------------------------------
    def reach(self, starts: list[tuple[Unit, Scope]]) -> set[int]:
        """The scope ids of `starts`, the functions nested in them, and every function they call, in any module."""
        todo, seen = list(starts), set()
        while todo:
            unit, scope = todo.pop()
            if scope.id in seen:
                continue
            seen.add(scope.id)
            for call in self.calls_in(unit, scope):
                todo.extend((t.unit, t.scope) for t in self.callees(unit, call))
            todo.extend((unit, s) for s in unit.index.children(scope))
        return seen

    @property
    def request_path(self) -> set[int]:
        """Route handlers and everything they reach: the code a web request runs."""
        if self._request_path is None:
            self._request_path = self.reach([(u, u.index.scopes[h]) for u in self.units for h in u.index.handlers])
        return self._request_path


def _is_super(node: ast.expr) -> bool:
    return isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "super"


def _decorators(scope: Scope) -> set[str]:
    return {d.id for d in scope.node.decorator_list if isinstance(d, ast.Name)} if scope.node is not None else set()


def _is_static(scope: Scope) -> bool:
    return "staticmethod" in _decorators(scope)


def _is_classmethod(scope: Scope) -> bool:
    return "classmethod" in _decorators(scope)


def _annotation(function: ast.AST, name: str) -> ast.expr | None:
    args = function.args  # type: ignore[attr-defined]
    for arg in [*args.posonlyargs, *args.args, *args.kwonlyargs]:
        if arg.arg == name:
            return arg.annotation
    return None
