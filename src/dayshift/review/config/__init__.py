"""`[tool.dayshift.review]` in pyproject.toml: which rules run, where, and on which files.

    [tool.dayshift.review]
    select = ["DS1", "DS301", "privacy"]        # ids, id prefixes or families; default: every rule
    ignore = ["DS602"]
    exclude = ["migrations/*", "notebooks/*"]   # globs, relative to the pyproject's folder
    redaction-functions = ["scrub_user_text"]   # your own redactors, for DS401

    [tool.dayshift.review.per-file-ignores]
    "tests/*" = ["DS501", "DS101"]

The file is found by walking up from the reviewed path (or given with `--config`). An
unknown key, a wrong type or an unknown rule is an error that names the file and the fix.
"""

from __future__ import annotations

import fnmatch
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from dayshift.errors import ConfigError
from dayshift.review.rules.catalog import FAMILIES, RULES

KEYS = {"select", "ignore", "exclude", "per-file-ignores", "redaction-functions"}


@dataclass(frozen=True)
class ReviewConfig:
    select: tuple[str, ...] = ()
    ignore: tuple[str, ...] = ()
    exclude: tuple[str, ...] = ()
    per_file_ignores: tuple[tuple[str, tuple[str, ...]], ...] = ()
    redaction_functions: tuple[str, ...] = ()
    root: Path = field(default_factory=Path.cwd)
    source: Path | None = None

    def enabled(self) -> set[str]:
        chosen = expand(self.select, self.source) if self.select else set(RULES)
        return chosen - expand(self.ignore, self.source)

    def enabled_for(self, relpath: str) -> set[str]:
        rules = self.enabled()
        for pattern, ids in self.per_file_ignores:
            if _matches(relpath, pattern):
                rules -= expand(ids, self.source)
        return rules

    def excluded(self, relpath: str) -> bool:
        return any(_matches(relpath, pattern) for pattern in self.exclude)

    def with_overrides(self, *, select: list[str] | None = None, ignore: list[str] | None = None) -> ReviewConfig:
        from dataclasses import replace

        return replace(self, select=tuple(select) if select else self.select,
                       ignore=self.ignore + tuple(ignore or ()))


def _matches(relpath: str, pattern: str) -> bool:
    pattern = pattern.rstrip("/")
    return (fnmatch.fnmatch(relpath, pattern) or fnmatch.fnmatch(relpath, pattern + "/*")
            or any(fnmatch.fnmatch(part, pattern) for part in relpath.split("/")))


def expand(selectors: tuple[str, ...] | list[str], source: Path | None = None) -> set[str]:
    """Rule ids from selectors: "DS101", "DS1" (a prefix), "timeout" (a family), "ALL"."""
    chosen: set[str] = set()
    for raw in selectors:
        item = raw.strip()
        if item.upper() == "ALL":
            chosen |= set(RULES)
            continue
        family = {r for r in RULES.values() if r.family == item.lower()}
        prefixed = {rule_id for rule_id in RULES if rule_id.startswith(item.upper())}
        if not family and not prefixed:
            where = f" in {source}" if source else ""
            raise ConfigError(f'unknown rule "{item}"{where}: use a rule id (DS101), a prefix (DS1), a family '
                              f'({", ".join(FAMILIES)}) or ALL; `dayshift review --list-rules` lists them')
        chosen |= {r.id for r in family} | prefixed
    return chosen


def find_pyproject(start: Path) -> Path | None:
    probe = start.resolve()
    if probe.is_file():
        probe = probe.parent
    for folder in [probe, *probe.parents]:
        candidate = folder / "pyproject.toml"
        if candidate.is_file():
            return candidate
    return None


def load_config(start: Path | None = None, *, explicit: Path | None = None) -> ReviewConfig:
    path = explicit if explicit is not None else find_pyproject(start or Path.cwd())
    if path is None:
        return ReviewConfig(root=(start or Path.cwd()).resolve())
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"cannot read {path}: {exc.strerror}; pass an existing file to --config") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path} is not valid TOML ({exc}); fix the file or pass another with --config") from exc
    section = data.get("tool", {}).get("dayshift", {}).get("review", {})
    if not isinstance(section, dict):
        raise ConfigError(f"[tool.dayshift.review] in {path} must be a table")
    unknown = {k for k in section if k.replace("_", "-") not in KEYS}
    if unknown:
        raise ConfigError(f"unknown key {min(unknown)!r} in [tool.dayshift.review] of {path}: "
                          f"use {', '.join(sorted(KEYS))}")
    get = {k.replace("_", "-"): v for k, v in section.items()}
    config = ReviewConfig(
        select=_strings(get, "select", path), ignore=_strings(get, "ignore", path),
        exclude=_strings(get, "exclude", path), redaction_functions=_strings(get, "redaction-functions", path),
        per_file_ignores=_per_file(get.get("per-file-ignores", {}), path), root=path.parent.resolve(), source=path)
    config.enabled()  # unknown rule ids fail here, naming the file
    for _, ids in config.per_file_ignores:
        expand(ids, path)
    return config


def _strings(section: dict, key: str, path: Path) -> tuple[str, ...]:
    value = section.get(key, [])
    if isinstance(value, str) or not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ConfigError(f'[tool.dayshift.review] {key} in {path} must be a list of strings, like {key} = ["DS101"]')
    return tuple(value)


def _per_file(value: object, path: Path) -> tuple[tuple[str, tuple[str, ...]], ...]:
    if not isinstance(value, dict):
        raise ConfigError(f"[tool.dayshift.review] per-file-ignores in {path} must be a table of glob = [rule ids]")
    out = []
    for pattern, ids in value.items():
        if not isinstance(ids, list) or not all(isinstance(i, str) for i in ids):
            raise ConfigError(f'per-file-ignores "{pattern}" in {path} must be a list of rule ids, like ["DS501"]')
        out.append((pattern, tuple(ids)))
    return tuple(out)
