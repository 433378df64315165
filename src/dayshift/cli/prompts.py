"""`dayshift prompts`: the prompt registry from the command line.

    dayshift prompts list                          # every prompt: versions, labels, the version "qa" means
    dayshift prompts show qa@production            # the file, its params, model and content hash
    dayshift prompts diff qa@2 qa@3                # unified diff of the two files, then changed params/model
    dayshift prompts history qa                    # commits (git) or the registry log; label moves
    dayshift prompts label qa production 3 --reason "F1 +0.04"    # rewrites labels.yaml: commit it
    dayshift prompts lint [--strict]               # exit 1 on errors (and on warnings with --strict)

`--dir` names the prompt folder for one command (else answer.prompt_dir).
Left out: editing prompt files (they are yours; edit and commit them).
"""

from __future__ import annotations

import getpass
import json
from dataclasses import asdict
from pathlib import Path
from typing import Annotated, Any

import typer

from dayshift.answer.prompts import PromptTemplate
from dayshift.errors import ConfigError
from dayshift.prompts import HistoryEntry, LintContext, PromptRegistry, diff_prompts, lint_registry
from dayshift.settings import Settings

prompts_app = typer.Typer(help="Prompt versions, labels, diffs, history and lint.", no_args_is_help=True)
JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON.")]


@prompts_app.callback()
def _prompts(
    ctx: typer.Context,
    folder: Annotated[Path | None, typer.Option("--dir", help="The prompt folder (default: answer.prompt_dir).")] = None,
) -> None:
    settings: Settings = ctx.obj
    if folder is not None:
        ctx.obj = settings.model_copy(update={"answer": settings.answer.model_copy(update={"prompt_dir": folder})})


def _registry(ctx: typer.Context) -> PromptRegistry:
    return PromptRegistry.from_settings(ctx.obj)


@prompts_app.command("list")
def list_prompts(ctx: typer.Context, as_json: JsonOption = False) -> None:
    """Every prompt with its versions, labels, and the version its bare name resolves to."""
    registry = _registry(ctx)
    rows = []
    for name in registry.names():
        versions = registry.versions(name)
        rows.append({"name": name, "versions": [t.version for t in versions], "labels": registry.labels(name),
                     "default": registry.get(name).version, "folder": str(Path(versions[0].path).parent)})
    if as_json:
        typer.echo(json.dumps(rows, indent=2))
        return
    width = max((len(r["name"]) for r in rows), default=4)
    for r in rows:
        labels = " ".join(f"{k}=v{v}" for k, v in sorted(r["labels"].items())) or "-"
        versions = " ".join(f"v{v}" for v in r["versions"])
        typer.echo(f"{r['name']:<{width}}  {versions:<14}  default v{r['default']:<3}  labels: {labels}")


@prompts_app.command("show")
def show(ctx: typer.Context, ref: Annotated[str, typer.Argument(help="qa, qa@3 or qa@production")],
         as_json: JsonOption = False) -> None:
    """One version: where it lives, its params, model and content hash, then the file."""
    registry = _registry(ctx)
    template = registry.get(ref)
    labels = sorted(k for k, v in registry.labels(template.name).items() if v == template.version)
    if as_json:
        typer.echo(json.dumps({**_template_dict(template), "labels": labels, "content": template.content}, indent=2))
        return
    typer.echo(f"{template.ref}  {template.path}")
    for key, value in (("description", template.description), ("model", template.model),
                       ("params", json.dumps(template.params) if template.params else None),
                       ("labels", ", ".join(labels)), ("sha256", template.content_hash)):
        if value:
            typer.echo(f"  {key}: {value}")
    typer.echo("")
    typer.echo((template.content or template.body).rstrip("\n"))


@prompts_app.command("diff")
def diff(ctx: typer.Context, old: Annotated[str, typer.Argument(help="e.g. qa@2 or qa@production")],
         new: Annotated[str, typer.Argument(help="e.g. qa@3 or qa@candidate")]) -> None:
    """A unified diff of two versions' files, then the params and model that changed."""
    registry = _registry(ctx)
    result = diff_prompts(registry.get(old), registry.get(new))
    if not result.text:
        typer.echo(f"{result.old.ref} and {result.new.ref} are the same file content")
        return
    typer.echo(result.text.rstrip("\n"))
    for key, (before, after) in result.changes.items():
        typer.echo(f"changed {key}: {_value(before)} -> {_value(after)}")


@prompts_app.command("history")
def history(ctx: typer.Context, name: Annotated[str, typer.Argument(help="A prompt name, e.g. qa")],
            as_json: JsonOption = False) -> None:
    """Commits that touched each version (git), else the registry log; and every label move. Oldest first."""
    entries = _registry(ctx).history(name)
    if as_json:
        typer.echo(json.dumps([{**asdict(e), "at": e.at.isoformat()} for e in entries], indent=2))
        return
    if not entries:
        typer.echo(f"no history for {name}: its files are not in git and the registry log has no entry for it")
    for entry in entries:
        typer.echo(_history_line(entry))


@prompts_app.command("label")
def label(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="A prompt name, e.g. qa")],
    label_name: Annotated[str, typer.Argument(metavar="LABEL", help="e.g. production or candidate")],
    version: Annotated[str, typer.Argument(help="The version it should name: 3 or v3")],
    reason: Annotated[str, typer.Option("--reason", help="Why, for the log (e.g. the eval that justified it).")] = "",
    actor: Annotated[str | None, typer.Option("--actor", help="Who (default: the login name).")] = None,
) -> None:
    """Point a label at a version: labels.yaml is rewritten (commit it) and the move is logged."""
    number = version.strip().removeprefix("v")
    if not number.isdigit():
        raise ConfigError(f"version {version!r} is not a version number; write 3 or v3")
    registry = _registry(ctx)
    before = registry.labels(name).get(label_name)
    registry.set_label(name, label_name, int(number), actor=actor if actor is not None else _login(), reason=reason)
    moved = f"v{before} -> v{number}" if before else f"v{number}"
    typer.echo(f"{name}@{label_name}: {moved} (in {registry.home / 'labels.yaml'})")


@prompts_app.command("lint")
def lint(
    ctx: typer.Context,
    refs: Annotated[list[str] | None, typer.Argument(help="Versions to lint (default: every file of the folder).")] = None,
    strict: Annotated[bool, typer.Option("--strict", help="Fail on warnings too.")] = False,
    as_json: JsonOption = False,
) -> None:
    """Check prompt files: undefined variables, citation and abstention instructions, model, params, labels."""
    settings: Settings = ctx.obj
    registry = _registry(ctx)
    findings = lint_registry(registry, context=LintContext.from_settings(settings), refs=refs or (),
                             answer_ref=None if refs else settings.answer.prompt)
    errors = sum(f.level == "error" for f in findings)
    warnings = sum(f.level == "warning" for f in findings)  # notes never fail a run
    failed = errors > 0 or (strict and warnings > 0)
    if as_json:
        typer.echo(json.dumps({"findings": [asdict(f) for f in findings], "errors": errors, "warnings": warnings,
                               "notes": len(findings) - errors - warnings, "passed": not failed}, indent=2))
    else:
        for finding in findings:
            typer.echo(str(finding))
        where = ", ".join(refs) if refs else str(registry.home)
        verdict = "failed" if failed else "passed"
        notes = len(findings) - errors - warnings
        typer.echo(f"{where}: {errors} error(s), {warnings} warning(s), {notes} note(s): {verdict}"
                   f"{' (--strict)' if strict else ''}")
    if failed:
        raise typer.Exit(1)


def _template_dict(t: PromptTemplate) -> dict[str, Any]:
    return {"ref": t.ref, "name": t.name, "version": t.version, "description": t.description, "model": t.model,
            "params": t.params, "path": t.path, "content_hash": t.content_hash}


def _history_line(e: HistoryEntry) -> str:
    when = e.at.astimezone().strftime("%Y-%m-%d %H:%M")
    who = f"  {e.actor}" if e.actor else ""
    if e.event == "label":
        moved = f"v{e.previous} -> " if e.previous else ""
        target = f"v{e.version}" if e.version is not None else "(removed)"
        what = f"label {e.label}: {moved}{target}"
    elif e.event == "commit":
        what = f"v{e.version} commit {e.commit[:10] if e.commit else ''}"
    else:
        what = f"v{e.version} {e.event} sha256 {(e.content_hash or '')[:12]}"
    note = f"  {e.message}" if e.message else ""
    origin = f"  ({e.commit[:10]})" if e.event == "label" and e.commit else ""
    return f"{when}  {what}{who}{note}{origin}"


def _value(value: Any) -> str:
    return "(unset)" if value is None else json.dumps(value)


def _login() -> str:
    try:
        return getpass.getuser()
    except (OSError, KeyError):  # no login name in a bare container
        return ""
