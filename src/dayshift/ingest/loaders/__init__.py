"""Loaders by file extension, discovered through the "dayshift.loaders" entry points.

A third-party loader registers exactly as the built-in ones do; a later
registration of the same extension wins, so a plugin can replace a built-in.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

from dayshift import plugins
from dayshift.ingest.loaders.base import Loader, LoadOptions

__all__ = ["LoadOptions", "Loader", "loader_for", "supported_extensions"]


@cache
def _by_extension() -> dict[str, Loader]:
    table: dict[str, Loader] = {}
    for name in plugins.available("loaders"):
        loader = plugins.load("loaders", name)()
        for ext in loader.extensions:
            table[ext] = loader
    return table


def loader_for(path: Path) -> Loader | None:
    """The loader for `path` by its (last) extension, or None if none reads it."""
    return _by_extension().get(path.suffix.lower())


def supported_extensions() -> list[str]:
    return sorted(_by_extension())
