"""Reading the keyword arguments of a call, `**kwargs` dicts included, as far as the code shows them.

    params = dict(base, temperature=0)          # base's items, then temperature
    params = {**defaults, "model": name}        # defaults' items, then model
    params["timeout"] = 30                      # an item added later in the function
    params.update(max_tokens=256)               # likewise
    params = copy.deepcopy(self.defaults)       # whatever self.defaults holds
    client.chat.completions.create(**params)    # -> {"temperature", "model", "timeout", "max_tokens", ...}

A dict is *known* when every part of it can be read; a `**kwargs` parameter, a dict from an
unknown call or an `update(other)` with an unreadable `other` leaves it unknown, and the rules
that need to know whether a key is absent (a timeout, a max_tokens) stay silent about it.
Items are collected without order: a key assigned in any branch counts as present.

Left out: keys removed again (`pop`, `del`), keys computed at run time, and dicts filled in a
loop.
"""

from __future__ import annotations

import ast
from typing import TYPE_CHECKING

from dayshift.review.engine.module import Scope

if TYPE_CHECKING:
    from dayshift.review.engine.clients import ClientResolver

Items = tuple[dict[str, ast.expr], bool]  # (the keys seen -> their values, whether that is all of them)
COPIES = {"copy.copy", "copy.deepcopy"}


def call_kwargs(resolver: ClientResolver, call: ast.Call, scope: Scope) -> Items:
    """The keyword arguments of `call`, with each `**d` read from how `d` was built."""
    found: dict[str, ast.expr] = {}
    known = True
    for kw in call.keywords:
        if kw.arg is not None:
            found[kw.arg] = kw.value
            continue
        items, ok = dict_items(resolver, kw.value, scope)
        found.update({k: v for k, v in items.items() if k not in found})
        known &= ok
    return found, known


def dict_items(resolver: ClientResolver, node: ast.expr, scope: Scope, depth: int = 0) -> Items:
    """The items a dict expression holds: a literal, `dict(...)`, a copy, a name and what was added to it."""
    if depth > 4:
        return {}, False
    if isinstance(node, ast.Dict):
        return _literal(resolver, node, scope, depth)
    if isinstance(node, ast.BoolOp):  # `model_params or {}`
        return _merge(dict_items(resolver, value, scope, depth + 1) for value in node.values)
    if isinstance(node, ast.Call):
        return _call(resolver, node, scope, depth)
    if not isinstance(node, (ast.Name, ast.Attribute)):
        return {}, False
    bindings = resolver.index.lookup(node, scope)
    if not bindings:
        return {}, False
    items, known = _merge(dict_items(resolver, b.value, b.scope, depth + 1) for b in bindings)
    key = resolver.index.key_for(node, scope)
    for name, value in resolver.index.dict_items.get(key, []) if key else []:
        if name is None:
            sub, ok = dict_items(resolver, value, scope, depth + 1) if value is not None else ({}, False)
            for sub_name, sub_value in sub.items():
                items.setdefault(sub_name, sub_value)
            known &= ok
        else:
            items.setdefault(name, value)
    return items, known


def _literal(resolver: ClientResolver, node: ast.Dict, scope: Scope, depth: int) -> Items:
    items: dict[str, ast.expr] = {}
    known = True
    for k, v in zip(node.keys, node.values):
        if k is None:
            sub, ok = dict_items(resolver, v, scope, depth + 1)
            items.update(sub)
            known &= ok
        elif isinstance(k, ast.Constant) and isinstance(k.value, str):
            items[k.value] = v
        else:
            known = False
    return items, known


def _call(resolver: ClientResolver, node: ast.Call, scope: Scope, depth: int) -> Items:
    func = node.func
    copied = resolver.index.qualname(func) in COPIES or (
        isinstance(func, ast.Attribute) and func.attr == "copy" and not node.args)
    if copied:
        source = node.args[0] if node.args else func.value  # type: ignore[union-attr]
        return dict_items(resolver, source, scope, depth + 1)
    if isinstance(func, ast.Name) and func.id == "dict" and "dict" not in resolver.index.functions:
        parts = [dict_items(resolver, a, scope, depth + 1) for a in node.args]
        parts += [dict_items(resolver, kw.value, scope, depth + 1) for kw in node.keywords if kw.arg is None]
        items, known = _merge(parts) if parts else ({}, True)
        items.update({kw.arg: kw.value for kw in node.keywords if kw.arg})
        return items, known
    returned = resolver.returned(node)
    if returned:
        return _merge(dict_items(owner, value, target, depth + 1) for value, target, owner in returned)
    return {}, False


def _merge(parts) -> Items:
    items: dict[str, ast.expr] = {}
    known = True
    for sub, ok in parts:
        for name, value in sub.items():
            items.setdefault(name, value)
        known &= ok
    return items, known
