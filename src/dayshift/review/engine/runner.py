"""Find the files, parse each once into one project, run the enabled rules, apply suppressions
and per-file config.

Every file under the reviewed paths is one module of one project (engine/project.py), so a
request body handed from routes.py to llm.py is followed. A crash in a rule while analysing a
file becomes an error for that file; the other files keep their findings.

Left out: caching between runs and parallel workers (a single core reviews thousands of lines a
second, which covers a pre-commit hook and a CI job).
"""

from __future__ import annotations

import ast
import os
import sys
import tokenize
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from dayshift.review.config import ReviewConfig
from dayshift.review.engine.model import FileError, Finding, Report
from dayshift.review.engine.project import Project
from dayshift.review.rules import run_checks
from dayshift.review.suppressions import apply, parse_suppressions

SKIP_DIRS = {".git", ".hg", ".svn", ".venv", "venv", ".tox", ".nox", "node_modules", "__pycache__", "build", "dist",
             ".mypy_cache", ".pytest_cache", ".ruff_cache", "site-packages", ".eggs", ".dayshift"}


def collect_files(paths: Iterable[Path], config: ReviewConfig) -> list[Path]:
    """Python files under `paths` (files given by name are kept whatever their suffix)."""
    found: dict[Path, None] = {}
    for path in paths:
        if path.is_file():
            if not config.excluded(_relative(path, config.root)):
                found[path] = None
            continue
        if not path.is_dir():
            continue
        for folder, dirs, files in os.walk(path):
            dirs[:] = sorted(d for d in dirs if d not in SKIP_DIRS and not d.endswith(".egg-info")
                             and not config.excluded(_relative(Path(folder) / d, config.root)))
            for name in sorted(files):
                if name.endswith((".py", ".pyi")):
                    file = Path(folder) / name
                    if not config.excluded(_relative(file, config.root)):
                        found[file] = None
    return list(found)


def _relative(path: Path, root: Path) -> str:
    try:
        return path.resolve().relative_to(root).as_posix()
    except ValueError:
        return path.as_posix()


def review_source(source: str, path: str = "<string>", *, config: ReviewConfig | None = None,
                  enabled: set[str] | None = None) -> tuple[list[Finding], int]:
    """Findings for one module's source text, and how many were suppressed inline."""
    result = review_sources({path: source}, config=config, enabled={path: enabled} if enabled is not None else None)
    if result.errors:
        raise result.errors[0][1]
    return result.findings[path], result.suppressed[path]


@dataclass
class SourcesResult:
    findings: dict[str, list[Finding]]  # path -> its findings, sorted
    suppressed: dict[str, int]
    errors: list[tuple[str, Exception]]  # a file whose review crashed, and why


def review_sources(sources: dict[str, str], *, config: ReviewConfig | None = None,
                   enabled: dict[str, set[str] | None] | None = None,
                   keys: dict[str, str] | None = None) -> SourcesResult:
    """Review several modules as one project: each is parsed and indexed once, then every rule
    runs with names followed across the modules (`from .llm import ask`). `keys` gives each
    path's location for import resolution (default: the path itself)."""
    config = config or ReviewConfig()
    wanted = {path: (enabled or {}).get(path) or config.enabled() for path in sources}
    project = Project()
    result = SourcesResult({path: [] for path in sources}, dict.fromkeys(sources, 0), [])
    for path, source in sources.items():
        try:
            tree = ast.parse(source, filename=path)
        except SyntaxError as exc:
            if "DS000" in wanted[path]:
                result.findings[path].append(Finding(path, exc.lineno or 1, (exc.offset or 0) or 1, "DS000",
                                                     f"not valid Python {sys.version_info.major}."
                                                     f"{sys.version_info.minor}: {exc.msg}"))
            continue
        except (ValueError, RecursionError, MemoryError) as exc:
            result.errors.append((path, exc))
            continue
        project.add(path, tree, source, key=(keys or {}).get(path), redactors=config.redaction_functions)
    failed = run_checks(project, set().union(*wanted.values()) if wanted else set())
    result.errors.extend(failed)
    broken = {path for path, _ in result.errors}
    for unit in project.units:
        if unit.path in broken:
            continue
        findings = [f for f in unit.ctx.findings if f.rule_id in wanted[unit.path]]
        suppressions, problems = parse_suppressions(unit.index.source)
        kept, suppressed, meta = apply(findings, suppressions, unit.path, wanted[unit.path])
        if "DS001" in wanted[unit.path]:
            meta.extend(Finding(unit.path, line, column, "DS001", f"malformed suppression: {problem}")
                        for line, column, problem in problems)
        result.findings[unit.path] = sorted(kept + meta, key=lambda f: (f.line, f.column, f.rule_id))
        result.suppressed[unit.path] = suppressed
    return result


def read_source(path: Path) -> str:
    with path.open("rb") as handle:
        encoding, _ = tokenize.detect_encoding(handle.readline)
    return path.read_bytes().decode(encoding)


def review_paths(paths: Iterable[Path], *, config: ReviewConfig | None = None,
                 changed: dict[Path, set[int]] | None = None, root: Path | None = None) -> Report:
    """Review every Python file under `paths`, as one project (names are followed across the
    files). With `changed` (resolved path -> changed line numbers), every file is still read, so
    that flows through unchanged modules are seen, but only findings in changed files that touch
    changed lines are kept."""
    config = config or ReviewConfig()
    root = (root or config.root).resolve()
    report = Report(root=root)
    sources: dict[str, str] = {}
    keys: dict[str, str] = {}
    resolved: dict[str, Path] = {}
    for file in collect_files(paths, config):
        shown = _relative(file, root)
        try:
            sources[shown] = read_source(file)
        except (OSError, UnicodeDecodeError, SyntaxError) as exc:
            report.errors.append(FileError(shown, f"cannot read it ({exc}); check the file's encoding and permissions"))
            continue
        resolved[shown] = file.resolve()
        keys[shown] = resolved[shown].as_posix()
    enabled = {shown: config.enabled_for(_relative(resolved[shown], config.root)) for shown in sources}
    result = review_sources(sources, config=config, enabled=enabled, keys=keys)
    for shown, exc in result.errors:
        report.errors.append(FileError(shown, _crash_reason(exc)))
    broken = {shown for shown, _ in result.errors}
    for shown, source in sources.items():
        if shown in broken or (changed is not None and resolved[shown] not in changed):
            continue
        report.files += 1
        report.lines += source.count("\n") + (0 if source.endswith("\n") or not source else 1)
        report.suppressed += result.suppressed[shown]
        findings = result.findings[shown]
        if changed is not None:
            lines = changed[resolved[shown]]
            findings = [f for f in findings if any(n in lines for n in range(f.line, f.last_line + 1))]
        report.findings.extend(findings)
    return report


def _crash_reason(exc: Exception) -> str:
    if isinstance(exc, (RecursionError, MemoryError)):
        return (f"too deeply nested to review ({type(exc).__name__}); "
                "exclude it in [tool.dayshift.review] exclude")
    return (f"internal error in dayshift review ({type(exc).__name__}: {exc}); "
            "please report it with this file")
