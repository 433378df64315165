"""Which functions a call may run, across the modules of a project, and paths through them.

    graph = CallGraph(project)
    graph.callees(unit, call)      # `ask(q)` -> [Target(llm.py, the def of ask, bound=False)]
    graph.request_path             # every function a route handler reaches, in any module

Calls resolve to functions: `f()` (a def of this module or an imported one), `mod.f()`,
`run_in_threadpool(f, ...)` / `asyncio.to_thread(f, ...)` / `pool.submit(f, ...)` (f, with the
rest of the arguments), `Class()` (its __init__), `self.m()` / `cls.m()` / `super().m()` (the
class, then its bases, in any module), and `obj.m()` where `obj = Class(...)`, `obj: Class`, or
`obj = factory()` with `def factory() -> Class`. A method called on an object (or on self) may
also be any override in a project subclass of its class (class-hierarchy analysis):
`self.llm.chat()` with `llm: BaseLLM` reaches OpenAILLM.chat. Every call is resolved at most
once (cached).

Left out: dynamic dispatch by name (`getattr`, a registry of functions looked up by a string),
objects whose class cannot be told from their construction, annotation or factory, and
functions passed around as values other than to the hand-over helpers above.
"""

from __future__ import annotations

import ast
from collections import defaultdict
from dataclasses import replace
from typing import TYPE_CHECKING

from dayshift.review.engine.module import ModuleIndex, Scope, reachable_nodes
from dayshift.review.engine.units import Symbol, Target, Unit

if TYPE_CHECKING:
    from dayshift.review.engine.project import Project


class CallGraph:
    def __init__(self, project: Project) -> None:
        self.project = project
        self._callees: dict[int, list[Target]] = {}
        self._calls: dict[int, list[ast.Call]] = {}
        self._nodes: dict[int, list[ast.AST]] = {}
        self._request_path: set[int] | None = None
        self._subclasses: dict[tuple[int, str], list[Symbol]] | None = None

    def method(self, cls: Symbol, name: str, depth: int = 0) -> Target | None:
        """`name` looked up on the class, then on its bases (depth first, as simple MROs resolve)."""
        scope = cls.unit.index.methods.get((cls.name, name))
        if scope is not None:
            return Target(cls.unit, scope, bound=not _is_static(scope))
        node = cls.unit.index.class_defs.get(cls.name)
        if node is None or depth > 5:
            return None
        for base in node.bases:
            parent = self.project.class_named(cls.unit, base)
            found = self.method(parent, name, depth + 1) if parent is not None else None
            if found is not None:
                return found
        return None

    def callees(self, unit: Unit, call: ast.Call) -> list[Target]:
        """The project functions `call` may run (cached per call)."""
        found = self._callees.get(id(call))
        if found is None:
            self._callees[id(call)] = []  # `r = r.json()`: a call whose receiver needs the call itself resolves to nothing
            found = self._callees[id(call)] = self._resolve(unit, call)
        return found

    def _resolve(self, unit: Unit, call: ast.Call, scope: Scope | None = None) -> list[Target]:
        index, func = unit.index, call.func
        scope = scope or index.enclosing_scope(call)
        handed = _handed_over(index, call)
        if handed is not None:  # run_in_threadpool(engine.chat, messages=...): the function runs with the rest
            return [replace(t, via=handed) for t in self._resolve(unit, handed, scope)]
        if isinstance(func, ast.Name):
            local = [s for s in index.functions.get(func.id, []) if s.cls is None]
            if local:
                return [Target(unit, s, False) for s in local]
            if func.id in index.class_defs:
                return self._targets(Symbol("class", unit, func.id))
            return self._targets(self.project.symbol(unit, index.imports.get(func.id)))
        if not isinstance(func, ast.Attribute):
            return []
        receiver = func.value
        own_class = next((s.cls for s in index.scope_chain(scope) if s.cls), None)
        if isinstance(receiver, ast.Name) and receiver.id in {"self", "cls"} or _is_super(receiver):
            if own_class in index.class_defs:
                cls = Symbol("class", unit, own_class)
                if _is_super(receiver):
                    found = self._super_method(cls, func.attr)
                    return [found] if found is not None else []
                return self.dispatch(cls, func.attr)
            return [Target(unit, s, True) for s in index.functions.get(func.attr, []) if s.cls is not None]
        qualname = index.qualname(func)
        if qualname is not None:
            return self._targets(self.project.symbol(unit, qualname))
        return [t for cls in self._instance_classes(unit, receiver, scope) for t in self.dispatch(cls, func.attr)]

    def dispatch(self, cls: Symbol, name: str) -> list[Target]:
        """What `obj.name()` may run when obj is a `cls`: the method `cls` has (its own or a base's),
        and every override in a project subclass of `cls` (obj may be one)."""
        found = [self.method(cls, name)]
        todo, seen = list(self.subclasses(cls)), set()
        while todo:
            sub = todo.pop()
            if (id(sub.unit), sub.name) in seen:
                continue
            seen.add((id(sub.unit), sub.name))
            own = sub.unit.index.methods.get((sub.name, name))
            if own is not None:
                found.append(Target(sub.unit, own, bound=not _is_static(own)))
            todo.extend(self.subclasses(sub))
        return [t for t in found if t is not None]

    def subclasses(self, cls: Symbol) -> list[Symbol]:
        """The project classes that name `cls` as a direct base (the index is built once)."""
        if self._subclasses is None:
            self._subclasses = defaultdict(list)
            for unit in self.project.units:
                for name, node in unit.index.class_defs.items():
                    for base in node.bases:
                        parent = self.project.class_named(unit, base)
                        if parent is not None:
                            self._subclasses[(id(parent.unit), parent.name)].append(Symbol("class", unit, name))
        return self._subclasses.get((id(cls.unit), cls.name), [])

    def _super_method(self, cls: Symbol, name: str) -> Target | None:
        for base in cls.unit.index.class_defs[cls.name].bases:
            parent = self.project.class_named(cls.unit, base)
            found = self.method(parent, name) if parent is not None else None
            if found is not None:
                return found
        return None

    def _targets(self, found: Symbol | None) -> list[Target]:
        if found is None:
            return []
        if found.kind == "function" and found.scope is not None:
            bound = found.bound or (found.scope.cls is not None and _is_classmethod(found.scope))
            return [Target(found.unit, found.scope, bound=bound)]
        if found.kind == "class":
            init = self.method(found, "__init__")
            return [init] if init is not None else []
        return []

    def _instance_classes(self, unit: Unit, receiver: ast.expr, scope: Scope, depth: int = 0) -> list[Symbol]:
        """The project classes `obj` in `obj.m()` may be: from `obj = Class(...)` (each branch's
        class when branches bind different ones), `obj = factory()`, a parameter `obj: Class` (also
        when stored: `self.llm = llm`), or `Class(...).m()` itself."""
        if isinstance(receiver, ast.Call):
            found = self.project.class_named(unit, receiver.func)
            return [found] if found is not None else []
        if not isinstance(receiver, (ast.Name, ast.Attribute)) or depth > 3:
            return []
        classes: dict[tuple[int, str], Symbol] = {}
        for binding in unit.index.lookup(receiver, scope):
            value = binding.value.value if isinstance(binding.value, ast.Await) else binding.value
            found: list[Symbol] = []
            if isinstance(value, ast.Call):
                one = self.project.class_named(unit, value.func) or self._returned_class(unit, value)
                found = [one] if one is not None else []
            elif isinstance(value, ast.Name) and value is not receiver:
                found = self._instance_classes(unit, value, binding.scope, depth + 1)
            classes.update({(id(c.unit), c.name): c for c in found})
        if classes:
            return list(classes.values())
        if isinstance(receiver, ast.Name):
            for probe in unit.index.scope_chain(scope):
                if probe.node is None:
                    break
                if receiver.id in probe.params:
                    one = self.project.class_named(unit, _annotation(probe.node, receiver.id))
                    return [one] if one is not None else []
        return []

    def _returned_class(self, unit: Unit, call: ast.Call) -> Symbol | None:
        """The class a factory says it returns: `def get_datastore() -> DataStore`."""
        for target in self.callees(unit, call):
            returns = getattr(target.scope.node, "returns", None)
            found = self.project.class_named(target.unit, returns) if returns is not None else None
            if found is not None:
                return found
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
            self._request_path = self.reach([(u, u.index.scopes[h]) for u in self.project.units
                                             for h in u.index.handlers])
        return self._request_path


HANDOVERS = {"starlette.concurrency.run_in_threadpool": 0, "fastapi.concurrency.run_in_threadpool": 0,
             "asyncio.to_thread": 0, "anyio.to_thread.run_sync": 0, "functools.partial": 0}
HANDOVER_METHODS = {"run_in_executor": 1, "submit": 0, "apply_async": 0}


def _handed_over(index: ModuleIndex, call: ast.Call) -> ast.Call | None:
    """`run_in_threadpool(f, *a, **k)`, `loop.run_in_executor(None, f, *a)`, `pool.submit(f, *a)`:
    the call of f that runs, as a call node built from the rest of the arguments."""
    position = HANDOVERS.get(index.qualname(call.func) or "")
    if position is None and isinstance(call.func, ast.Attribute):
        position = HANDOVER_METHODS.get(call.func.attr)
    if position is None or len(call.args) <= position or isinstance(call.args[position], ast.Starred):
        return None
    handed = ast.Call(func=call.args[position], args=call.args[position + 1:], keywords=call.keywords)
    return ast.copy_location(handed, call)


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

