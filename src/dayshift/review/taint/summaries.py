"""Inter-procedural taint: one summary per function, computed once and applied at every call.

    # llm.py                                          summary(send):
    def send(messages):                               #   sinks:   messages -> [llm.py:3 DS401]
        return client.chat.completions.create(        #   returns: {"model", ("param", send, "messages")}
            model="m", messages=messages)

    # routes.py
    @app.post("/chat")
    def chat(body: Ask):                              # the body is user data: applying send's
        return send([{"role": "user", "content": body.text}])   # summary here reports llm.py:3

A summary says which parameters reach which sinks with no sanitizer on the way, what the
return value carries (a source's labels such as "model", and which parameters flow into it),
and which module-level state the function writes. It is computed by running the flow of
taint/flow.py over the function with each parameter carrying its own label,
("param", id of the function, name); at a call to another function of the project (resolved by
engine/project.py, in the same module or another) that function's summary is applied: its sinks
fire where an argument carries a source's label, and become the caller's own sinks where an
argument carries the caller's parameters. Each function is analysed once per rule family and
round, so the cost grows with the code, not with the number of paths through it.

State: a function that stores tainted data in a module-level name (a chat history list), in a
chat framework's user session, or in a field of `self` taints that state (taint/state.py); the
next round starts every function of the module (or method of the class) with it, so a `/stream`
handler that sends the history a `/chat` handler filled is seen, and so is a request body a
constructor stored and another method sends. Rounds stop when the state stops changing (at most
three).

Left out: recursion (a call back into a function still being analysed is an unknown call: its
result carries its arguments), one summary per calling context (a callee's own finding is
reported once, at its sink, whichever caller fed it), and state kept in another module.
"""

from __future__ import annotations

import ast
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Protocol

from dayshift.review.engine.module import Scope, session_key
from dayshift.review.engine.project import Project
from dayshift.review.engine.units import Target, Unit
from dayshift.review.taint.flow import EMPTY, TaintFlow, analyse
from dayshift.review.taint.state import owner_of, seeds, touches

PARAM = "param"
WRAPPED = "wrapped"
MAX_DEPTH = 24  # nested summary computations (a longer chain of calls is cut: its calls become unknown)
ROUNDS = 3


@dataclass(frozen=True, eq=False)
class Sink:
    """A place where tainted data would make a finding: the call, the rule, the finding's text."""

    unit: Unit
    call: ast.Call
    rule_id: str
    message: str


@dataclass
class Summary:
    sinks: dict[str, dict[tuple[int, str], Sink]] = field(default_factory=dict)  # parameter -> its sinks
    returns: frozenset = EMPTY
    writes: dict[tuple[tuple, str], frozenset] = field(default_factory=dict)  # (owner, state path) -> labels


class FlowRules(Protocol):
    """What a rule family tells the engine."""

    def source(self, unit: Unit, node: ast.expr) -> frozenset: ...

    def enter(self, unit: Unit, function: ast.AST, env: dict) -> dict: ...

    def transfer(self, unit: Unit, call: ast.Call, labels: frozenset) -> frozenset | None: ...

    def sinks(self, unit: Unit, call: ast.Call) -> list[tuple[list[ast.expr], str, str]]: ...

    def fires(self, labels: frozenset) -> bool: ...

    def handled_at(self, unit: Unit, call: ast.Call, sink: Sink) -> bool: ...

    def report(self, sink: Sink, labels: frozenset, via: tuple[Unit, ast.Call] | None) -> None: ...

    def entry(self, unit: Unit, scope: Scope) -> bool: ...


def param_label(scope: Scope, name: str) -> tuple:
    return (PARAM, scope.id, name)


def wrap(tag: str, labels: frozenset) -> frozenset:
    """Labels seen through a transformation a rule cares about: ("json", label) for the JSON text
    of a value, so a parse of it is known to succeed but still yields `label` (unwrap)."""
    return frozenset((WRAPPED, tag, label) for label in labels)


def unwrap(tag: str, labels: frozenset) -> frozenset:
    return frozenset(label[2] if _wrapped(label, tag) else label for label in labels)


def _wrapped(label: object, tag: str | None = None) -> bool:
    return isinstance(label, tuple) and label[0] == WRAPPED and (tag is None or label[1] == tag)


def _is_param(label: object) -> bool:
    return isinstance(label, tuple) and (label[0] == PARAM or (label[0] == WRAPPED and _is_param(label[2])))


def own_params(labels: frozenset, scope: Scope) -> list[str]:
    """The parameters of `scope` whose labels are in `labels` as they are (not wrapped)."""
    return [label[2] for label in labels if isinstance(label, tuple) and label[0] == PARAM and label[1] == scope.id]


def intrinsic(labels: frozenset) -> frozenset:
    return frozenset(label for label in labels if not _is_param(label))


def translate(labels: frozenset, scope: Scope, labels_of) -> frozenset:
    """A callee's labels in the caller's terms: each of the callee's parameters replaced by what
    the caller passed to it (wrapped as it was wrapped in the callee)."""
    found = intrinsic(labels)
    for label in labels - found:
        if label[0] == PARAM and label[1] == scope.id:
            found |= labels_of(label[2])
        elif label[0] == WRAPPED:
            found |= wrap(label[1], translate(frozenset({label[2]}), scope, labels_of))
    return found


class Summaries:
    """The summaries of one rule family over one project, and the driver that runs it."""

    def __init__(self, project: Project, rules: FlowRules) -> None:
        self.project, self.rules = project, rules
        self.done: dict[int, Summary | None] = {}
        self.active: set[int] = set()
        self.callers: dict[int, set[int]] = {}  # a function -> the functions whose summaries applied its summary
        self.state: dict[tuple[tuple, str], frozenset] = {}  # taint/state.py
        self._sinks: dict[int, list[tuple[list[ast.expr], str, str]]] = {}

    def run(self, errors: dict[str, Exception]) -> None:
        """Analyse every function that may hold a source (the rest only when called), in rounds:
        a round after the first re-analyses only the modules whose state changed and the
        functions that called into them (their summaries may change); the rest stay cached."""
        for _ in range(ROUNDS):
            before = dict(self.state)
            for unit in self.project.units:
                if unit.path in errors:
                    continue
                try:
                    for scope in self._roots(unit):
                        self.summary(unit, scope)
                except Exception as exc:  # noqa: BLE001 -- one file's crash must not end the review
                    errors[unit.path] = exc
            changed = {owner[1] for (owner, path), labels in self.state.items() if before.get((owner, path)) != labels}
            if not changed:
                return
            self._invalidate(changed)

    def _invalidate(self, units: set[int]) -> None:
        dirty = [scope.id or id(unit) for unit in self.project.units if id(unit) in units
                 for scope in [unit.index.module_scope, *unit.index.scopes.values()]]
        seen: set[int] = set()
        while dirty:
            key = dirty.pop()
            if key in seen:
                continue
            seen.add(key)
            self.done.pop(key, None)
            dirty.extend(self.callers.get(key, ()))

    def _roots(self, unit: Unit) -> Iterable[Scope]:
        index = unit.index
        tainted_state = touches(self.state, unit)
        for scope in [index.module_scope, *index.scopes.values()]:
            if scope.node is not None and index.root_of(scope) is not scope:
                continue
            if tainted_state or self.rules.entry(unit, scope) or self._calls_project(unit, scope):
                yield scope

    def _calls_project(self, unit: Unit, scope: Scope) -> bool:
        """A function that calls another project function may receive a source's labels from it."""
        return any(self.project.callees(unit, call) for call in self.project.calls_in(unit, scope))

    # ---- one function ------------------------------------------------------------------------
    def summary(self, unit: Unit, scope: Scope) -> Summary | None:
        key = scope.id or id(unit)
        if key in self.done:
            return self.done[key]
        if key in self.active or len(self.active) >= MAX_DEPTH:
            return None
        self.active.add(key)
        try:
            found = self._analyse(unit, scope)
        finally:
            self.active.discard(key)
        self.done[key] = found
        return found

    def _analyse(self, unit: Unit, scope: Scope) -> Summary:
        summary = Summary()
        env = seeds(self.project, self.state, unit, scope)
        if scope.node is not None:
            env.update({name: frozenset({param_label(scope, name)}) for name in _params(scope)})
            env = self.rules.enter(unit, scope.node, env)

        def on_call(call: ast.Call, flow: TaintFlow, labels: frozenset) -> frozenset | None:
            return self._on_call(unit, scope, summary, call, flow, labels)

        def on_store(flow: TaintFlow, path: str, labels: frozenset) -> None:
            where = owner_of(unit, flow, path)
            if where is not None:
                self._write(where[0], where[1], labels, scope, summary)

        flow = analyse(unit.index, scope.node, source=lambda node: self.rules.source(unit, node), on_call=on_call,
                       on_store=on_store, env=env, enter=lambda function, env: self.rules.enter(unit, function, env))
        summary.returns = flow.returned
        return summary

    def _on_call(self, unit: Unit, scope: Scope, summary: Summary, call: ast.Call, flow: TaintFlow,
                 labels: frozenset) -> frozenset | None:
        for args, rule_id, message in self.sinks_of(unit, call):
            found = frozenset().union(*(flow.labels(a) for a in args))
            sink = Sink(unit, call, rule_id, message)
            if self.rules.fires(found):
                self.rules.report(sink, found, None)
            for name in own_params(found, scope):
                summary.sinks.setdefault(name, {})[(id(call), rule_id)] = sink
        stored = session_key(unit.index, call, "set")
        if stored is not None and len(call.args) >= 2:
            self._write(("module", id(unit)), stored, flow.labels(call.args[1]), scope, summary)
        fetched = session_key(unit.index, call, "get")
        if fetched is not None:
            return self.state.get((("module", id(unit)), fetched), EMPTY)
        result = None
        for target in self.project.callees(unit, call):
            applied = self._apply(unit, scope, summary, call, flow, target)
            if applied is None:
                continue
            if target.scope.node.name == "__init__":  # type: ignore[union-attr] -- a new object holds its arguments
                applied = labels
            elif target.bound and isinstance(call.func, ast.Attribute):
                applied |= flow.labels(call.func.value)  # obj.method(): the object's data may come back
            result = applied if result is None else result | applied
        transferred = self.rules.transfer(unit, call, labels if result is None else result)
        return transferred if transferred is not None else result

    def _apply(self, unit: Unit, scope: Scope, summary: Summary, call: ast.Call, flow: TaintFlow,
               target: Target) -> frozenset | None:
        """A callee's summary at one call: its sinks, its state writes, and the labels of its result."""
        callee = self.summary(target.unit, target.scope)
        self.callers.setdefault(target.scope.id, set()).add(scope.id or id(unit))
        if callee is None:
            return None
        bound = bind(target, target.via or call)

        def labels_of(name: str) -> frozenset:
            return frozenset().union(*(flow.labels(a) for a in bound.get(name, [])))

        for name, sinks in callee.sinks.items():
            found = labels_of(name)
            if not found:
                continue
            live = [s for s in sinks.values() if not self.rules.handled_at(unit, call, s)]
            if self.rules.fires(found):
                for sink in live:
                    self.rules.report(sink, found, (unit, call))
            for mine in own_params(found, scope):
                summary.sinks.setdefault(mine, {}).update({(id(s.call), s.rule_id): s for s in live})
        for (owner, path), labels in callee.writes.items():
            self._write(owner, path, translate(labels, target.scope, labels_of), scope, summary)
        return translate(callee.returns, target.scope, labels_of)

    def sinks_of(self, unit: Unit, call: ast.Call) -> list[tuple[list[ast.expr], str, str]]:
        found = self._sinks.get(id(call))
        if found is None:
            found = self._sinks[id(call)] = self.rules.sinks(unit, call)
        return found

    # ---- module state ------------------------------------------------------------------------
    def _write(self, owner: tuple, path: str, labels: frozenset, scope: Scope, summary: Summary) -> None:
        real = intrinsic(labels)
        if real and not real <= self.state.get((owner, path), EMPTY):
            self.state[(owner, path)] = self.state.get((owner, path), EMPTY) | real
        mine = frozenset(label for label in labels - real if _owned(label, scope))
        if mine:
            summary.writes[(owner, path)] = summary.writes.get((owner, path), EMPTY) | mine


def _owned(label: tuple, scope: Scope) -> bool:
    return _owned(label[2], scope) if label[0] == WRAPPED else label[1] == scope.id


def bind(target: Target, call: ast.Call) -> dict[str, list[ast.expr]]:
    """Which argument expressions of `call` each parameter of the target receives."""
    args = target.scope.node.args  # type: ignore[union-attr]
    positional = [a.arg for a in [*args.posonlyargs, *args.args]]
    if target.bound and positional:
        positional = positional[1:]
    bound: dict[str, list[ast.expr]] = {}
    spread: list[ast.expr] = []
    position = 0
    for arg in call.args:
        if isinstance(arg, ast.Starred):
            spread.append(arg.value)
            continue
        name = positional[position] if position < len(positional) else (args.vararg.arg if args.vararg else None)
        if name is not None:
            bound.setdefault(name, []).append(arg)
        position += 1
    named = set(positional) | {a.arg for a in args.kwonlyargs}
    for kw in call.keywords:
        if kw.arg is None:
            spread.append(kw.value)
        elif kw.arg in named or args.kwarg is not None:
            bound.setdefault(kw.arg if kw.arg in named else args.kwarg.arg, []).append(kw.value)  # type: ignore[union-attr]
    if spread:  # f(*args, **kwargs): any parameter may receive them
        for name in [*named, *(a.arg for a in (args.vararg, args.kwarg) if a is not None)]:
            bound.setdefault(name, []).extend(spread)
    return bound


def _params(scope: Scope) -> list[str]:
    args = scope.node.args  # type: ignore[union-attr]
    names = [a.arg for a in [*args.posonlyargs, *args.args]]
    decorators = {d.id for d in scope.node.decorator_list if isinstance(d, ast.Name)}  # type: ignore[union-attr]
    if scope.cls is not None and names and "staticmethod" not in decorators:
        names = names[1:]  # self or cls
    names += [a.arg for a in args.kwonlyargs]
    names += [a.arg for a in (args.vararg, args.kwarg) if a is not None]
    return names
