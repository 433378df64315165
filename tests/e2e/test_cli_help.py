"""Every command's --help reads as a command line does: PATHS..., [NAME], and no type beside a flag."""

from __future__ import annotations

import re
from typing import Any

import typer.main
from typer.testing import CliRunner

from dayshift.cli.main import app


def commands() -> list[list[str]]:
    """The path of every command and group, e.g. ["eval", "run"]."""
    found: list[list[str]] = []

    def walk(command: Any, path: list[str]) -> None:  # Typer may carry its own copy of click: duck-typed
        found.append(path)
        if hasattr(command, "commands"):
            for name, sub in command.commands.items():
                walk(sub, [*path, name])

    walk(typer.main.get_command(app), [])
    return found


def test_every_help_page_renders_usage_and_flags_plainly() -> None:
    runner = CliRunner()
    paths = commands()
    assert len(paths) > 30 and ["ingest"] in paths and ["eval", "run"] in paths
    for path in paths:
        result = runner.invoke(app, [*path, "--help"], env={"COLUMNS": "200", "NO_COLOR": "1"})
        assert result.exit_code == 0, (path, result.output)
        usage = next(line for line in result.output.splitlines() if "Usage:" in line)
        assert "{" not in usage and "}" not in usage, (path, usage)
        assert "<bool>" not in result.output, (path, result.output)
        for flag in ("--help", "--json"):
            line = next((l for l in result.output.splitlines() if re.search(rf"│ {flag}\b", l)), None)
            assert line is None or "<" not in line, (path, line)
    ingest = runner.invoke(app, ["ingest", "--help"], env={"COLUMNS": "200"}).output
    assert "Usage: dayshift ingest [OPTIONS] PATHS..." in ingest
