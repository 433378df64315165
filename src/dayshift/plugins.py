"""Backend discovery through Python entry points.

Every backend -- the built-in ones included -- is registered in a package's
`pyproject.toml` under one of the groups below and found the same way:

    [project.entry-points."dayshift.stores"]
    embedded = "dayshift.store.embedded:EmbeddedStore"

A third-party package adds a backend by declaring its own entry point; nothing
in dayshift has to change. Deliberately left out: plugin versioning and
hooks; a plugin is a factory called with keyword settings, nothing more.
"""

from __future__ import annotations

from functools import cache
from importlib.metadata import EntryPoint, entry_points
from typing import Any, Literal

from dayshift.errors import PluginError

Group = Literal["embedders", "stores", "rerankers", "loaders", "llms", "tools"]


@cache
def _entry_points(group: Group) -> dict[str, EntryPoint]:
    return {ep.name: ep for ep in entry_points(group=f"dayshift.{group}")}


def available(group: Group) -> list[str]:
    """Names registered in `group`, sorted."""
    return sorted(_entry_points(group))


def load(group: Group, name: str) -> Any:
    """The factory registered as `name` in `group`; raises PluginError naming the fix."""
    registered = _entry_points(group)
    if name not in registered:
        known = ", ".join(sorted(registered)) or "none"
        raise PluginError(
            f'no {group[:-1]} named "{name}" (registered: {known}); install the package that '
            f'provides it, or check that `pip install -e .` has been run so entry points exist'
        )
    try:
        return registered[name].load()
    except ImportError as exc:
        raise PluginError(
            f'the {group[:-1]} "{name}" needs a missing dependency ({exc.name}): '
            f"install it (pip install {exc.name}) or the dayshift extra that provides it"
        ) from exc
