"""Find the files, parse each once, run the enabled rules, apply suppressions and per-file config.

Left out: caching between runs and parallel workers (a single core reviews tens of thousands of
lines a second, which covers a pre-commit hook and a CI job).
"""

from __future__ import annotations

import ast
import os
import sys
import tokenize
from collections.abc import Iterable
from pathlib import Path

from dayshift.review.config import ReviewConfig
from dayshift.review.engine.clients import ClientResolver
from dayshift.review.engine.context import RuleContext
from dayshift.review.engine.model import FileError, Finding, Report
from dayshift.review.engine.module import ModuleIndex
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
    config = config or ReviewConfig()
    enabled = enabled if enabled is not None else config.enabled()
    try:
        tree = ast.parse(source, filename=path)
    except SyntaxError as exc:
        if "DS000" not in enabled:
            return [], 0
        return [Finding(path, exc.lineno or 1, (exc.offset or 0) or 1, "DS000",
                        f"not valid Python {sys.version_info.major}.{sys.version_info.minor}: {exc.msg}")], 0
    index = ModuleIndex(tree, source, path)
    ctx = RuleContext(index, ClientResolver(index), path, redactors=config.redaction_functions)
    run_checks(ctx, enabled)
    findings = [f for f in ctx.findings if f.rule_id in enabled]
    suppressions, problems = parse_suppressions(source)
    kept, suppressed, meta = apply(findings, suppressions, path, enabled)
    if "DS001" in enabled:
        meta.extend(Finding(path, line, column, "DS001", f"malformed suppression: {problem}")
                    for line, column, problem in problems)
    return sorted(kept + meta, key=lambda f: (f.line, f.column, f.rule_id)), suppressed


def read_source(path: Path) -> str:
    with path.open("rb") as handle:
        encoding, _ = tokenize.detect_encoding(handle.readline)
    return path.read_bytes().decode(encoding)


def review_paths(paths: Iterable[Path], *, config: ReviewConfig | None = None,
                 changed: dict[Path, set[int]] | None = None, root: Path | None = None) -> Report:
    """Review every Python file under `paths`. With `changed` (resolved path -> changed line
    numbers), only those files are read and only findings touching those lines are kept."""
    config = config or ReviewConfig()
    root = (root or config.root).resolve()
    report = Report(root=root)
    files = collect_files(paths, config)
    if changed is not None:
        files = [f for f in files if f.resolve() in changed]
    for file in files:
        shown = _relative(file, root)
        try:
            source = read_source(file)
        except (OSError, UnicodeDecodeError, SyntaxError) as exc:
            report.errors.append(FileError(shown, f"cannot read it ({exc}); check the file's encoding and permissions"))
            continue
        report.files += 1
        report.lines += source.count("\n") + (0 if source.endswith("\n") or not source else 1)
        enabled = config.enabled_for(_relative(file, config.root))
        try:
            findings, suppressed = review_source(source, shown, config=config, enabled=enabled)
        except (RecursionError, MemoryError) as exc:
            report.errors.append(FileError(shown, f"too deeply nested to review ({type(exc).__name__}); "
                                                  "exclude it in [tool.dayshift.review] exclude"))
            continue
        except Exception as exc:  # noqa: BLE001 -- a bug in one rule must not hide every other file's findings
            report.errors.append(FileError(shown, f"internal error in dayshift review ({type(exc).__name__}: {exc}); "
                                                  "please report it with this file"))
            continue
        report.suppressed += suppressed
        if changed is not None:
            lines = changed[file.resolve()]
            findings = [f for f in findings if any(n in lines for n in range(f.line, f.last_line + 1))]
        report.findings.extend(findings)
    return report
