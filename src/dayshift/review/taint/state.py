"""State that outlives a call: module-level names and object fields, as taint/summaries.py keeps it.

    chat_history.append({"role": "user", ...})    # in /chat: module state ("module", <unit>), "chat_history"
    self.history.append(message)                  # in any method: object state ("class", <unit>, "Bot"), "self.history"
    self.chat_params = self.get_params(messages)  # in __init__: likewise, "self.chat_params"

One abstraction per module name and per class field, whichever instance: what one object's
field holds, every object of the class (and of its subclasses and bases) is assumed to hold.
That is coarse, and it is what lets a request body stored by a constructor be seen where another
method sends it.

Left out: fields set from outside the class (`bot.history = ...`), containers of objects, and
instance attributes reached through another name than the method's first parameter.
"""

from __future__ import annotations

from dayshift.review.engine.module import Scope
from dayshift.review.engine.project import Project
from dayshift.review.engine.units import Symbol, Unit
from dayshift.review.taint.flow import TaintFlow

Owner = tuple  # ("module", id(unit)) or ("class", id(unit), class name)


def owner_of(unit: Unit, flow: TaintFlow, path: str) -> tuple[Owner, str] | None:
    """Where a store into `path` lands, when it outlives the call: (owner, path) or None for a local."""
    index = unit.index
    scope = index.scopes.get(id(flow.owner)) if flow.owner is not None else index.module_scope
    root, _, rest = path.partition(".")
    method = next((s for s in index.scope_chain(scope or index.module_scope) if s.cls and s.node is not None), None)
    if method is not None and rest and root == method.self_name and method.cls in index.class_defs:
        return ("class", id(unit), method.cls), "self." + rest
    for probe in index.scope_chain(scope or index.module_scope):
        if probe.node is None or root in probe.globals_:
            break
        if root in probe.assigned or root in probe.params:
            return None
    if ("global", "", root) in index.bindings or root in index.imports:
        return ("module", id(unit)), path
    return None


def seeds(project: Project, state: dict[tuple[Owner, str], frozenset], unit: Unit, scope: Scope) -> dict:
    """The labels a function starts with: its module's state, and, in a method, its class's fields."""
    env = {path: labels for (owner, path), labels in state.items() if owner == ("module", id(unit))}
    if scope.cls is None or scope.self_name is None or scope.cls not in unit.index.class_defs:
        return env
    related = {("class", id(u), name) for u, name in _lineage(project, Symbol("class", unit, scope.cls))}
    for (owner, path), labels in state.items():
        if owner in related:
            key = scope.self_name + path[len("self"):]
            env[key] = env.get(key, frozenset()) | labels
    return env


def touches(state: dict[tuple[Owner, str], frozenset], unit: Unit) -> bool:
    return any(owner[1] == id(unit) for owner, _ in state)


def _lineage(project: Project, cls: Symbol) -> list[tuple[Unit, str]]:
    """The class, its project bases and its project subclasses (an object's fields may be set by any)."""
    found: list[tuple[Unit, str]] = []
    todo, seen = [cls], set()
    while todo:
        current = todo.pop()
        if (id(current.unit), current.name) in seen or len(seen) > 50:
            continue
        seen.add((id(current.unit), current.name))
        found.append((current.unit, current.name))
        node = current.unit.index.class_defs.get(current.name)
        for base in node.bases if node is not None else []:
            parent = project.class_named(current.unit, base)
            if parent is not None:
                todo.append(parent)
        todo.extend(project.graph.subclasses(current))
    return found
