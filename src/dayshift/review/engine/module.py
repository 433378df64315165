"""One pass over a module's tree: imports, scopes, bindings, calls, loops and request handlers.

Every rule reads this index instead of walking the tree again. Bindings are recorded without
order (flow-insensitive): `client = OpenAI()` anywhere in a function binds `client` in all of
it. That is what "follow the client from construction to call" needs, and it is cheap.

Binding keys (the places a value can be stored):
    ("local", id(function), "name")      a name assigned inside a function
    ("global", "", "bp.openai_client")   a module name, or a dotted path rooted at one
    ("self", "ClassName", "client")      `self.client = ...` in any method of the class

Relative imports are recorded with their dots (`from .llm import ask` -> ".llm.ask"), for the
project index (engine/project.py) to resolve; values stored in a chat framework's user session
(`cl.user_session.set("chain", chain)`) are bindings of ("global", "", "chainlit.user_session.chain").

Left out: reassignment order, aliasing through containers, class attributes set from outside
the class, and anything in other modules (engine/project.py follows names across modules).
"""

from __future__ import annotations

import ast
from collections import defaultdict
from dataclasses import dataclass, field

Key = tuple[str, str | int, str]
FunctionNode = ast.FunctionDef | ast.AsyncFunctionDef

ROUTE_ATTRS = {"get", "post", "put", "patch", "delete", "head", "options", "route", "api_route", "websocket"}
HANDLER_QUALNAMES = {"chainlit.on_message", "chainlit.on_chat_start"}
SESSION_STORES = {"chainlit.user_session"}  # .set("key", value) in one handler, .get("key") in another


@dataclass
class Scope:
    """A function (or the module body, when `node` is None) and the class it belongs to."""

    node: FunctionNode | None
    cls: str | None = None
    parent: Scope | None = None
    params: set[str] = field(default_factory=set)
    globals_: set[str] = field(default_factory=set)
    assigned: set[str] = field(default_factory=set)

    @property
    def id(self) -> int:
        return id(self.node) if self.node is not None else 0

    @property
    def self_name(self) -> str | None:
        if self.node is None or self.cls is None or not self.node.args.args:
            return None
        return self.node.args.args[0].arg


@dataclass
class Binding:
    value: ast.expr
    scope: Scope


class ModuleIndex:
    """What the rules need to know about one module. Build it with `ModuleIndex(tree, source)`."""

    def __init__(self, tree: ast.Module, source: str, path: str = "<string>") -> None:
        self.tree, self.source, self.path = tree, source, path
        self.imports: dict[str, str] = {}
        self.module_scope = Scope(None)
        self.scopes: dict[int, Scope] = {0: self.module_scope}
        self.scope_of: dict[int, Scope] = {}  # id(node) -> innermost scope
        self.parent: dict[int, ast.AST] = {}
        self.bindings: dict[Key, list[Binding]] = defaultdict(list)
        self.dict_items: dict[Key, list[tuple[str | None, ast.expr]]] = defaultdict(list)  # d["k"] = v, d.update
        self.functions: dict[str, list[Scope]] = defaultdict(list)  # simple name -> defs
        self.calls: list[ast.Call] = []
        self.loops: list[ast.While] = []
        self.strings: list[ast.Constant] = []
        self.handlers: set[int] = set()
        self.top_functions: dict[str, Scope] = {}  # module-level defs, by name
        self.class_defs: dict[str, ast.ClassDef] = {}  # module-level classes, by name
        self.methods: dict[tuple[str, str], Scope] = {}  # (class, method) -> scope, module-level classes
        self._children: dict[int, list[Scope]] | None = None
        self._lines: list[str] | None = None
        self._walk(tree, self.module_scope)

    # ---- names -------------------------------------------------------------------------------
    def qualname(self, node: ast.AST) -> str | None:
        """`oa.chat.completions.create` -> "openai.chat.completions.create" when `import openai as oa`."""
        parts: list[str] = []
        while isinstance(node, ast.Attribute):
            parts.append(node.attr)
            node = node.value
        if not isinstance(node, ast.Name):
            return None
        root = self.imports.get(node.id)
        if root is None:
            return None
        return ".".join([root, *reversed(parts)])

    def dotted(self, node: ast.AST) -> str | None:
        """The plain dotted text of a Name/Attribute chain (`st.session_state.messages`), constant
        string subscripts folded in (`st.session_state["messages"]`)."""
        parts: list[str] = []
        while True:
            if isinstance(node, ast.Attribute):
                parts.append(node.attr)
                node = node.value
            elif isinstance(node, ast.Subscript) and isinstance(node.slice, ast.Constant) \
                    and isinstance(node.slice.value, str):
                parts.append(node.slice.value)
                node = node.value
            else:
                break
        if not isinstance(node, ast.Name):
            return None
        return ".".join([node.id, *reversed(parts)])

    def key_for(self, target: ast.expr, scope: Scope) -> Key | None:
        """Where an assignment to (or a read of) `target` in `scope` lives: the nearest enclosing
        function that assigns the root name, else the module."""
        if isinstance(target, ast.Attribute) and isinstance(target.value, ast.Name):
            for probe in self.scope_chain(scope):
                if probe.self_name and target.value.id == probe.self_name:
                    return ("self", probe.cls or "", target.attr)
        text = self.dotted(target) if not isinstance(target, ast.Name) else target.id
        if text is None:
            return None
        root = text.split(".", 1)[0]
        for probe in self.scope_chain(scope):
            if probe.node is None or root in probe.globals_:
                break
            if root in probe.assigned or root in probe.params:
                return ("local", probe.id, text)
        if isinstance(target, ast.Name):
            return ("global", "", text)
        return ("global", "", self.qualname(target) or text)

    def lookup(self, expr: ast.expr, scope: Scope) -> list[Binding]:
        """The values that may be stored where `expr` reads from."""
        key = self.key_for(expr, scope)
        return self.bindings.get(key, []) if key is not None else []

    def is_param(self, name: str, scope: Scope) -> bool:
        return scope.node is not None and name in scope.params and name not in scope.assigned

    def segment(self, node: ast.AST) -> str | None:
        """The source text of a node, as `ast.get_source_segment` gives it, from lines split once
        (get_source_segment splits the whole file on every call)."""
        if self._lines is None:
            self._lines = self.source.splitlines(keepends=True)
        try:
            first, last = node.lineno - 1, node.end_lineno - 1  # type: ignore[attr-defined, operator]
            start, end = node.col_offset, node.end_col_offset  # type: ignore[attr-defined]
        except AttributeError:
            return None
        if end is None or last is None or last >= len(self._lines):
            return None
        if first == last:
            return self._lines[first].encode()[start:end].decode(errors="replace")
        head = self._lines[first].encode()[start:].decode(errors="replace")
        tail = self._lines[last].encode()[:end].decode(errors="replace")
        return "".join([head, *self._lines[first + 1:last], tail])

    def enclosing_scope(self, node: ast.AST) -> Scope:
        return self.scope_of.get(id(node), self.module_scope)

    def ancestors(self, node: ast.AST):
        current = self.parent.get(id(node))
        while current is not None:
            yield current
            current = self.parent.get(id(current))

    # ---- the walk ----------------------------------------------------------------------------
    def _walk(self, node: ast.AST, scope: Scope) -> None:
        for child in ast.iter_child_nodes(node):
            self.parent[id(child)] = node
            self.scope_of[id(child)] = scope
            if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef)):
                self._enter_function(child, scope)
                continue
            if isinstance(child, ast.ClassDef):
                self._walk_class(child, scope)
                continue
            self._record(child, scope)
            self._walk(child, scope)

    def _enter_function(self, fn: FunctionNode, scope: Scope) -> None:
        cls = scope.cls if scope.node is None and scope.cls else None
        inner = Scope(fn, cls=cls, parent=scope)
        args = fn.args
        inner.params = {a.arg for a in [*args.posonlyargs, *args.args, *args.kwonlyargs]}
        inner.params |= {a.arg for a in (args.vararg, args.kwarg) if a is not None}
        for sub in ast.walk(fn):
            if isinstance(sub, (ast.Global, ast.Nonlocal)):
                inner.globals_.update(sub.names)
            elif isinstance(sub, ast.Name) and isinstance(sub.ctx, ast.Store):
                inner.assigned.add(sub.id)
            elif isinstance(sub, (ast.Import, ast.ImportFrom)):
                inner.assigned.update((a.asname or a.name).split(".")[0] for a in sub.names)
        self.scopes[id(fn)] = inner
        self.functions[fn.name].append(inner)
        if scope is self.module_scope:
            self.top_functions[fn.name] = inner
        if self._is_handler(fn):
            self.handlers.add(id(fn))
        for deco in fn.decorator_list:
            self.parent[id(deco)] = fn
            self.scope_of[id(deco)] = scope
            self._walk(deco, scope)
        for default in [*args.defaults, *[d for d in args.kw_defaults if d is not None]]:
            self.parent[id(default)] = fn
            self.scope_of[id(default)] = scope
            self._walk(default, scope)
        for stmt in fn.body:
            self.parent[id(stmt)] = fn
            self.scope_of[id(stmt)] = inner
            if isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef)):
                self._enter_function(stmt, inner)
            elif isinstance(stmt, ast.ClassDef):
                self._walk_class(stmt, inner)
            else:
                self._record(stmt, inner)
                self._walk(stmt, inner)

    def _walk_class(self, cls: ast.ClassDef, scope: Scope) -> None:
        class_scope = Scope(None, cls=cls.name, parent=scope)
        if scope is self.module_scope:
            self.class_defs[cls.name] = cls
        for stmt in cls.body:
            self.parent[id(stmt)] = cls
            self.scope_of[id(stmt)] = scope
            if isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef)):
                self._enter_function(stmt, class_scope)
                self.scopes[id(stmt)].parent = scope
                if scope is self.module_scope:
                    self.methods[(cls.name, stmt.name)] = self.scopes[id(stmt)]
            else:
                self._walk(stmt, scope)

    def _record(self, node: ast.AST, scope: Scope) -> None:
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.asname:
                    self.imports[alias.asname] = alias.name
                else:
                    self.imports[alias.name.split(".")[0]] = alias.name.split(".")[0]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            for alias in node.names:
                self.imports[alias.asname or alias.name] = f"{node.module}.{alias.name}"
        elif isinstance(node, ast.ImportFrom) and node.level > 0:
            package = "." * node.level + (f"{node.module}." if node.module else "")
            for alias in node.names:
                self.imports[alias.asname or alias.name] = package + alias.name
        elif isinstance(node, ast.Assign):
            for target in node.targets:
                self._bind(target, node.value, scope)
        elif isinstance(node, (ast.AnnAssign, ast.NamedExpr)) and node.value is not None:
            self._bind(node.target, node.value, scope)
        elif isinstance(node, (ast.With, ast.AsyncWith)):
            for item in node.items:
                if item.optional_vars is not None:
                    self._bind(item.optional_vars, item.context_expr, scope)
        elif isinstance(node, ast.Call):
            self.calls.append(node)
            self._record_update(node, scope)
        elif isinstance(node, ast.While):
            self.loops.append(node)
        elif isinstance(node, ast.Constant) and isinstance(node.value, str):
            self.strings.append(node)

    def _bind(self, target: ast.expr, value: ast.expr, scope: Scope) -> None:
        if isinstance(target, (ast.Tuple, ast.List)):
            return  # unpacking: the parts are not followed
        if isinstance(target, ast.Subscript) and isinstance(target.slice, ast.Constant) \
                and isinstance(target.slice.value, str):
            key = self.key_for(target.value, scope)
            if key is not None:
                self.dict_items[key].append((target.slice.value, value))
            return
        key = self.key_for(target, scope)
        if key is not None:
            self.bindings[key].append(Binding(value, scope))

    def _record_update(self, call: ast.Call, scope: Scope) -> None:
        func = call.func
        key_name = session_key(self, call, "set")
        if key_name is not None and len(call.args) >= 2:
            self.bindings[("global", "", key_name)].append(Binding(call.args[1], scope))
            return
        if isinstance(func, ast.Attribute) and func.attr == "setdefault" and len(call.args) == 2 \
                and isinstance(call.args[0], ast.Constant) and isinstance(call.args[0].value, str):
            key = self.key_for(func.value, scope)
            if key is not None:
                self.dict_items[key].append((call.args[0].value, call.args[1]))
            return
        if isinstance(func, ast.Attribute) and func.attr == "update":
            key = self.key_for(func.value, scope)
            if key is None:
                return
            for arg in call.args:
                if isinstance(arg, ast.Dict):
                    for k, v in zip(arg.keys, arg.values):
                        name = k.value if isinstance(k, ast.Constant) and isinstance(k.value, str) else None
                        self.dict_items[key].append((name, v))
                else:
                    self.dict_items[key].append((None, arg))
            for kw in call.keywords:
                self.dict_items[key].append((kw.arg, kw.value))

    # ---- request handlers ------------------------------------------------------------------
    def _is_handler(self, fn: FunctionNode) -> bool:
        for deco in fn.decorator_list:
            target = deco.func if isinstance(deco, ast.Call) else deco
            if self.qualname(target) in HANDLER_QUALNAMES:
                return True
            if isinstance(deco, ast.Call) and isinstance(target, ast.Attribute) and target.attr in ROUTE_ATTRS:
                first = deco.args[0] if deco.args else None
                if target.attr in {"route", "api_route", "websocket"} or (
                        isinstance(first, ast.Constant) and isinstance(first.value, str)):
                    return True
        return False

    def callees(self, scope: Scope) -> list[Scope]:
        """Functions of this module that `scope`'s body calls by name, `self.name` or `cls.name`."""
        found: list[Scope] = []
        if scope.node is None:
            return found
        for sub in reachable_nodes(scope.node.body):
            if not isinstance(sub, ast.Call):
                continue
            func = sub.func
            name = None
            if isinstance(func, ast.Name):
                name = func.id
            elif isinstance(func, ast.Attribute) and isinstance(func.value, ast.Name) \
                    and func.value.id in {"self", "cls"}:
                name = func.attr
            if name and name in self.functions:
                found.extend(self.functions[name])
        return found

    def children(self, scope: Scope) -> list[Scope]:
        """The functions defined directly in `scope` (methods of a class count as the module's)."""
        if self._children is None:
            self._children = defaultdict(list)
            for inner in self.scopes.values():
                if inner.parent is not None and inner.node is not None:
                    self._children[inner.parent.id].append(inner)
        return self._children.get(scope.id, [])

    def in_handler(self, scope: Scope) -> bool:
        """True inside a request handler or a function nested in one (not merely called by one)."""
        probe: Scope | None = scope
        while probe is not None and probe.node is not None:
            if probe.id in self.handlers:
                return True
            probe = probe.parent
        return False

    def scope_chain(self, scope: Scope):
        probe: Scope | None = scope
        while probe is not None:
            yield probe
            probe = probe.parent

    def root_of(self, scope: Scope) -> Scope:
        """The outermost function around `scope` (the module scope for module-level code)."""
        while scope.parent is not None and scope.parent.node is not None:
            scope = scope.parent
        return scope

    def body_of(self, scope: Scope) -> ast.AST | None:
        return scope.node


def session_key(index: ModuleIndex, call: ast.Call, method: str) -> str | None:
    """"chainlit.user_session.chain" for `cl.user_session.set("chain", ...)` (method "set") or
    `cl.user_session.get("chain")` (method "get"); None for anything else."""
    func = call.func
    if not (isinstance(func, ast.Attribute) and func.attr == method and call.args):
        return None
    store = index.qualname(func.value)
    key = call.args[0]
    if store in SESSION_STORES and isinstance(key, ast.Constant) and isinstance(key.value, str):
        return f"{store}.{key.value}"
    return None


def reachable_nodes(body: list[ast.stmt]):
    """The nodes of a function body, minus the statements after an unconditional raise or
    return at its top level (code a request can never reach)."""
    for stmt in body:
        yield from ast.walk(stmt)
        if isinstance(stmt, (ast.Raise, ast.Return)):
            return
