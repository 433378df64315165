"""`--set section.key=value` on top of Settings: how a replay changes one setting.

    apply_overrides(settings, ["retrieve.mode=keyword", "answer.k=8", "retrieve.rerank=null"])

A value is read as TOML (numbers, true/false, "quoted", [lists]); anything TOML cannot read is a
string; `null` or `none` clears an optional setting. The result is validated like dayshift.toml, so a
wrong key or value is a ConfigError naming it. Left out: secrets (api keys, URLs with passwords).
"""

from __future__ import annotations

import tomllib
from collections.abc import Sequence
from typing import Any

from pydantic import ValidationError

from dayshift.errors import ConfigError
from dayshift.settings import Settings

__all__ = ["apply_overrides", "parse_assignment", "recorded_retrieval"]


def parse_assignment(text: str) -> tuple[list[str], Any]:
    """"retrieve.mode=keyword" -> (["retrieve", "mode"], "keyword")."""
    key, eq, raw = text.partition("=")
    path = [p.strip() for p in key.strip().split(".")]
    if not eq or not all(path):
        raise ConfigError(f'cannot read the setting "{text}": write section.key=value, e.g. retrieve.mode=keyword')
    raw = raw.strip()
    if raw.lower() in ("null", "none"):
        return path, None
    try:
        return path, tomllib.loads(f"v = {raw}")["v"]
    except tomllib.TOMLDecodeError:
        return path, raw


def apply_overrides(settings: Settings, assignments: Sequence[str]) -> Settings:
    """`settings` with each assignment applied, validated as a whole."""
    if not assignments:
        return settings
    data = settings.model_dump()
    for text in assignments:
        path, value = parse_assignment(text)
        node = data
        for part in path[:-1]:
            if not isinstance(node.get(part), dict):
                raise ConfigError(f'"{text}": settings have no section "{".".join(path[:-1])}"; see dayshift.toml\'s '
                                  "sections (retrieve, answer, llm, embed, ...)")
            node = node[part]
        if path[-1] not in node:
            known = ", ".join(sorted(node)) if isinstance(node, dict) else ""
            raise ConfigError(f'"{text}": no setting "{".".join(path)}"; that section has: {known}')
        node[path[-1]] = value
    try:
        return Settings.model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors())
        raise ConfigError(f"invalid --set ({problems})") from exc


def recorded_retrieval(detail: dict[str, Any]) -> list[str]:
    """Assignments that restore the retrieval settings a trace recorded (mode, fusion, weight, candidates)."""
    recorded = (detail or {}).get("retrieval", {})
    return [f"retrieve.{key}={_toml(recorded[key])}" for key in ("mode", "fusion", "dense_weight", "candidates")
            if recorded.get(key) is not None]


def _toml(value: Any) -> str:
    return f'"{value}"' if isinstance(value, str) else str(value).lower() if isinstance(value, bool) else str(value)
