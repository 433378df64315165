"""Intra-procedural taint tracking over one function body (or a module body), in source order.

A caller (taint/summaries.py) supplies:
    source(expr)                -> labels the expression introduces  (a request body, the model's text)
    on_call(call, flow, labels) -> the labels of the call's result, or None to keep `labels`
                                   (the default: the receiver's and the arguments' labels); it
                                   also checks sinks and applies the summaries of called functions
    on_store(flow, path, labels) -> told when labels are stored into a name or container (module state)

and the engine carries labels through names, attributes, containers, comprehensions, f-strings,
`await`, `with ... as`, `for` targets and the results of calls (an unknown call's result carries
its arguments' labels: `extract_json(text)` stays model text). A container that receives a
tainted value (`messages.append(x)`, `d["k"] = x`, `history += [x]`) is tainted as a whole, and
an alias (`messages = st.session_state.messages`) shares its container's labels. `returned`
collects what the function returns or yields.

Updates are strong (replace the labels) for statements at the top of the body, weak (add to
them) inside branches and loops, so `if a: x = user else: x = ""` keeps `x` tainted. Loop
bodies run twice, so a value tainted late in one iteration reaches a sink early in the next.
A nested function starts from the labels in force where it is defined (a closure sees them).

What it cannot see on its own (taint/summaries.py adds other functions and modules):
  - object fields set in one method and read in another, and data round-tripped through a
    store or a queue;
  - element-level precision: one tainted element taints the whole list or dict;
  - sanitizers by meaning: a call is a sanitizer only by its name.
"""

from __future__ import annotations

import ast
from collections.abc import Callable, Iterable

from dayshift.review.engine.module import ModuleIndex

Labels = frozenset
EMPTY: frozenset = frozenset()
MUTATORS = {"append", "extend", "insert", "add", "update", "appendleft", "extendleft", "put", "put_nowait",
            "setdefault"}


OnCall = Callable[[ast.Call, "TaintFlow", frozenset], "frozenset | None"]
OnStore = Callable[["TaintFlow", str, frozenset], None]


class TaintFlow:
    def __init__(self, index: ModuleIndex, *, source: Callable[[ast.expr], frozenset],
                 on_call: OnCall = lambda call, flow, labels: None,
                 on_store: OnStore = lambda flow, path, labels: None,
                 env: dict[str, frozenset] | None = None, owner: ast.AST | None = None) -> None:
        self.index = index
        self.source, self.on_call, self.on_store = source, on_call, on_store
        self.owner = owner  # the function analysed (None: the module body)
        self.returned: frozenset = EMPTY  # what it returns or yields
        self.env: dict[str, frozenset] = dict(env or {})
        self.aliases: dict[str, str] = {}
        self._cache: dict[int, frozenset] = {}
        self.nested: list[tuple[ast.AST, dict[str, frozenset]]] = []  # (function, env at its definition)

    # ---- reading -----------------------------------------------------------------------------
    def labels(self, node: ast.AST | None) -> frozenset:
        if node is None:
            return EMPTY
        key = id(node)
        if key not in self._cache:
            self._cache[key] = EMPTY  # cycle guard
            self._cache[key] = self._labels(node) | self.source(node)
        return self._cache[key]

    def _path_labels(self, node: ast.expr) -> frozenset:
        text = self.index.dotted(node)
        if text is None:
            return EMPTY
        found = self.env.get(text, EMPTY)
        target = self.aliases.get(text.split(".", 1)[0])
        if target:
            rest = text.split(".", 1)[1] if "." in text else ""
            found |= self.env.get(target + ("." + rest if rest else ""), EMPTY) | self.env.get(target, EMPTY)
        return found

    def _labels(self, node: ast.AST) -> frozenset:
        if isinstance(node, ast.Name):
            return self._path_labels(node)
        if isinstance(node, (ast.Attribute, ast.Subscript)):
            inner = self.labels(node.value)
            if isinstance(node, ast.Subscript):
                self.labels(node.slice)
            return inner | self._path_labels(node)
        if isinstance(node, ast.Call):
            return self._call_labels(node)
        if isinstance(node, (ast.Await, ast.Starred, ast.FormattedValue)):
            return self.labels(node.value)
        if isinstance(node, ast.NamedExpr):
            found = self.labels(node.value)
            self.assign(node.target, found, strong=False)
            return found
        if isinstance(node, ast.Lambda):
            return EMPTY
        if isinstance(node, (ast.Yield, ast.YieldFrom)):
            found = self.labels(node.value)
            self.returned |= found
            return found
        if isinstance(node, (ast.ListComp, ast.SetComp, ast.GeneratorExp, ast.DictComp)):
            saved = dict(self.env)
            for gen in node.generators:
                self.assign(gen.target, self.labels(gen.iter), strong=True)
                for cond in gen.ifs:
                    self.labels(cond)
            parts = [node.key, node.value] if isinstance(node, ast.DictComp) else [node.elt]
            found = _union(self.labels(p) for p in parts)
            self.env = saved
            return found
        if isinstance(node, ast.IfExp):
            self.labels(node.test)
            return self.labels(node.body) | self.labels(node.orelse)
        if isinstance(node, ast.Compare):
            for part in [node.left, *node.comparators]:
                self.labels(part)
            return EMPTY  # a comparison is a boolean, not the data
        if isinstance(node, ast.Dict):
            return _union(self.labels(v) for v in [*node.keys, *node.values] if v is not None)
        return _union(self.labels(child) for child in ast.iter_child_nodes(node)
                      if isinstance(child, ast.expr))

    def _call_labels(self, call: ast.Call) -> frozenset:
        func = call.func
        receiver = self.labels(func) if isinstance(func, ast.Attribute) else EMPTY
        args = _union(self.labels(a) for a in call.args) | _union(self.labels(k.value) for k in call.keywords)
        if isinstance(func, ast.Attribute) and func.attr in MUTATORS:
            self._taint_container(func.value, args)
        result = self.on_call(call, self, receiver | args)
        return receiver | args if result is None else result

    # ---- writing -----------------------------------------------------------------------------
    def _taint_container(self, target: ast.expr, found: frozenset) -> None:
        if not found:
            return
        text = self.index.dotted(target)
        if text is None:
            return
        self.env[text] = self.env.get(text, EMPTY) | found
        self.on_store(self, text, found)
        alias = self.aliases.get(text)
        if alias:
            self.env[alias] = self.env.get(alias, EMPTY) | found
        for name, target_path in self.aliases.items():
            if target_path == text:
                self.env[name] = self.env.get(name, EMPTY) | found

    def assign(self, target: ast.expr, found: frozenset, *, strong: bool) -> None:
        if isinstance(target, (ast.Tuple, ast.List)):
            for element in target.elts:
                self.assign(element, found, strong=strong)
            return
        if isinstance(target, ast.Starred):
            self.assign(target.value, found, strong=strong)
            return
        if isinstance(target, ast.Subscript):
            self._taint_container(target.value, found)
            return
        text = self.index.dotted(target)
        if text is None:
            return
        if strong:
            self.env[text] = found
        else:
            self.env[text] = self.env.get(text, EMPTY) | found
        if found:
            self.on_store(self, text, found)

    # ---- statements --------------------------------------------------------------------------
    def run(self, body: Iterable[ast.stmt], *, top: bool = True) -> None:
        for stmt in body:
            self._cache = {}
            self.statement(stmt, strong=top)
            if isinstance(stmt, (ast.Raise, ast.Return, ast.Break, ast.Continue)):
                return  # the rest of this block never runs

    def statement(self, stmt: ast.stmt, *, strong: bool) -> None:
        if isinstance(stmt, ast.Assign):
            found = self.labels(stmt.value)
            for target in stmt.targets:
                self.assign(target, found, strong=strong)
                self._record_alias(target, stmt.value)
        elif isinstance(stmt, (ast.AnnAssign, ast.AugAssign)):
            if stmt.value is not None:
                found = self.labels(stmt.value)
                self.assign(stmt.target, found, strong=strong and isinstance(stmt, ast.AnnAssign))
                if isinstance(stmt, ast.AugAssign):
                    self._taint_container(stmt.target, found)
        elif isinstance(stmt, ast.Return):
            self.returned |= self.labels(stmt.value)
        elif isinstance(stmt, ast.Expr):
            self.labels(stmt.value)
        elif isinstance(stmt, (ast.For, ast.AsyncFor)):
            found = self.labels(stmt.iter)
            for _ in range(2):
                self.assign(stmt.target, found, strong=False)
                self.run(stmt.body, top=False)
            self.run(stmt.orelse, top=False)
        elif isinstance(stmt, ast.While):
            for _ in range(2):
                self.labels(stmt.test)
                self.run(stmt.body, top=False)
            self.run(stmt.orelse, top=False)
        elif isinstance(stmt, ast.If):
            self.labels(stmt.test)
            self.run(stmt.body, top=False)
            self.run(stmt.orelse, top=False)
        elif isinstance(stmt, (ast.With, ast.AsyncWith)):
            for item in stmt.items:
                found = self.labels(item.context_expr)
                if item.optional_vars is not None:
                    self.assign(item.optional_vars, found, strong=False)
            self.run(stmt.body, top=strong)
        elif isinstance(stmt, (ast.Try, ast.TryStar)):
            self.run(stmt.body, top=False)
            for handler in stmt.handlers:
                self.run(handler.body, top=False)
            self.run(stmt.orelse, top=False)
            self.run(stmt.finalbody, top=False)
        elif isinstance(stmt, ast.Match):
            self.labels(stmt.subject)
            for case in stmt.cases:
                self.run(case.body, top=False)
        elif isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef)):
            self.nested.append((stmt, dict(self.env)))
        elif isinstance(stmt, (ast.Raise, ast.Assert, ast.Delete)):
            for child in ast.iter_child_nodes(stmt):
                if isinstance(child, ast.expr):
                    self.labels(child)

    def _record_alias(self, target: ast.expr, value: ast.expr) -> None:
        if isinstance(target, ast.Name) and isinstance(value, (ast.Attribute, ast.Subscript, ast.Name)):
            text = self.index.dotted(value)
            if text is not None:
                self.aliases[target.id] = text


def _union(parts: Iterable[frozenset]) -> frozenset:
    out: frozenset = EMPTY
    for part in parts:
        if part:
            out = out | part
    return out


def analyse(index: ModuleIndex, body_owner: ast.AST | None, *, source, on_call=lambda call, flow, labels: None,
            on_store=lambda flow, path, labels: None, env: dict[str, frozenset] | None = None,
            enter=lambda function, env: env) -> TaintFlow:
    """Run the flow over a function (and, recursively, the functions nested in it, each from the
    labels in force where it is defined, passed through `enter(function, env)`), or over the
    module body when `body_owner` is None (statements only: functions get their own runs).
    Returns the outer function's flow (its `returned` labels)."""
    flow = TaintFlow(index, source=source, on_call=on_call, on_store=on_store, env=env, owner=body_owner)
    if body_owner is None:
        flow.run([s for s in index.tree.body if not isinstance(s, (ast.FunctionDef, ast.AsyncFunctionDef,
                                                                   ast.ClassDef))])
    else:
        flow.run(body_owner.body)  # type: ignore[attr-defined]
    for nested, env_at_def in flow.nested:
        analyse(index, nested, source=source, on_call=on_call, on_store=on_store,
                env=enter(nested, env_at_def), enter=enter)
    return flow
