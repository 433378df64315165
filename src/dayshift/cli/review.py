"""`dayshift review`: the AI-specific code review, as a linter.

    dayshift review src/                          # text: path:line:col, rule, why it matters, how to fix
    dayshift review src/ --format sarif -o review.sarif   # code scanning; also --format json
    dayshift review --diff origin/main            # only what changed against the merge base
    dayshift review --list-rules

Exit status: 0 no findings, 1 findings, 2 a usage, config or git error. Config comes from
`[tool.dayshift.review]` in the nearest pyproject.toml (or `--config`). This command needs no
dayshift settings, models or data, and imports none of them: `dayshift review` is dispatched
before the rest of the CLI loads (dayshift.cli.launch), so a pre-commit hook starts at once.
Left out: autofixes (every finding says how to fix it; the fix is a decision, not a rewrite).
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from dayshift.errors import ConfigError

FORMATS = ("text", "json", "sarif")


def review(
    paths: Annotated[list[Path] | None, typer.Argument(help="Files or folders to review (default: .).")] = None,
    fmt: Annotated[str, typer.Option("--format", "-f", help="text, json or sarif.")] = "text",
    output: Annotated[Path | None, typer.Option("--output", "-o", help="Write the report here, not to stdout.")] = None,
    diff: Annotated[str | None, typer.Option("--diff", help="Report only lines changed against this git base.")] = None,
    config: Annotated[Path | None, typer.Option(
        "--config", help="The pyproject.toml to read (its tool.dayshift.review table).")] = None,
    select: Annotated[list[str] | None, typer.Option("--select", help="Rules to run: ids, prefixes or families.")] = None,
    ignore: Annotated[list[str] | None, typer.Option("--ignore", help="Rules to skip: ids, prefixes or families.")] = None,
    list_rules: Annotated[bool, typer.Option("--list-rules", help="Print every rule and exit.")] = False,
    exit_zero: Annotated[bool, typer.Option("--exit-zero", help="Exit 0 even when there are findings.")] = False,
) -> None:
    """Review LLM code for timeouts, retries, unchecked output, user data, secrets, prompts, streaming and loops."""
    try:
        code = _run(paths or [Path(".")], fmt=fmt, output=output, diff=diff, config=config, select=select,
                    ignore=ignore, list_rules=list_rules)
    except ConfigError as exc:
        typer.secho(f"error: {exc}", fg="red", err=True)
        raise typer.Exit(2) from None
    raise typer.Exit(0 if exit_zero and code == 1 else code)


def _split(values: list[str] | None) -> list[str]:
    return [part.strip() for value in values or [] for part in value.split(",") if part.strip()]


def _run(paths: list[Path], *, fmt: str, output: Path | None, diff: str | None, config: Path | None,
         select: list[str] | None, ignore: list[str] | None, list_rules: bool) -> int:
    from dayshift.review import load_config, review_paths
    from dayshift.review.output import render

    if list_rules:
        typer.echo(_rules_table())
        return 0
    if fmt not in FORMATS:
        raise ConfigError(f'unknown format "{fmt}": use one of {", ".join(FORMATS)}')
    missing = [str(p) for p in paths if not p.exists()]
    if missing:
        raise ConfigError(f"no such file or folder: {', '.join(missing)}")
    if config is not None and not config.is_file():
        raise ConfigError(f"--config {config}: no such file; point it at a pyproject.toml")
    settings = load_config(paths[0], explicit=config).with_overrides(select=_split(select), ignore=_split(ignore))
    settings.enabled()  # an unknown --select/--ignore fails before any work
    root, changed = settings.root, None
    if diff is not None:
        from dayshift.review.diff import changed_lines, repository_root

        root = repository_root(Path.cwd())
        changed = changed_lines(diff, Path.cwd(), paths)
    report = review_paths(paths, config=settings, changed=changed, root=root)
    text = render(report, fmt)
    if output is not None:
        output.write_text(text, encoding="utf-8")
        if fmt != "text":
            from dayshift.review.output.text import summary

            typer.echo(summary(report), err=True)
    else:
        sys.stdout.write(text)
    if report.errors:
        return 2
    return 1 if report.findings else 0


def _rules_table() -> str:
    from dayshift.review.rules.catalog import RULES

    lines = []
    for rule in RULES.values():
        lines.append(f"{rule.id}  {rule.family:<10}  {rule.name:<28}  {rule.summary}")
    return "\n".join(lines)


def standalone(args: list[str]) -> None:
    """Run `dayshift review` without the rest of the CLI (see dayshift.cli.launch)."""
    app = typer.Typer(add_completion=False, pretty_exceptions_enable=False)
    app.command(name="review")(review)
    app(args=args, prog_name="dayshift review")
