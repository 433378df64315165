"""The example CI workflow stays runnable: valid YAML, and every dayshift command and option it uses exists."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import typer.main
import yaml

from dayshift.cli.main import app

WORKFLOW = Path(__file__).resolve().parents[3] / "examples" / "ci" / "prompt-gate.yml"


def _commands(script: str) -> list[list[str]]:
    joined = script.replace("\\\n", " ")
    return [shlex.split(line.strip())[1:] for line in joined.splitlines() if line.strip().startswith("dayshift ")]


def test_the_workflow_gates_with_commands_and_options_the_cli_has() -> None:
    workflow = yaml.safe_load(WORKFLOW.read_text())
    steps = workflow["jobs"]["gate"]["steps"]
    scripts = [step["run"] for step in steps if "run" in step]
    used = [c for s in scripts for c in _commands(s)]
    assert any(c[:2] == ["eval", "gate"] for c in used) and any(c[:2] == ["prompts", "lint"] for c in used)
    root = typer.main.get_command(app)
    for argv in used:
        group = root.commands[argv[0]]  # type: ignore[attr-defined]
        command = group.commands[argv[1]] if hasattr(group, "commands") else group
        known = {opt for p in command.params for opt in (*p.opts, *p.secondary_opts)}
        for token in argv[2:]:
            if token.startswith("--") and not token.startswith("$"):
                assert token in known, f"{' '.join(argv[:2])} has no option {token}"
        # the promote flag is chosen in the script; both spellings must exist
        if argv[:2] == ["eval", "gate"]:
            assert {"--promote", "--no-promote"} <= known
            assert re.search(r"--repeats \d", " ".join(argv))
