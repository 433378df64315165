"""The standup digest: what changed since yesterday, who changed it, and what it affects.

    inputs = StandupInputs(engine=..., alerts=..., registry=..., catalogs=..., eval_runs=..., gates=...)
    digest = build_digest(inputs, since=now - 24h, until=now)
    print_digest(digest)  ·  digest_json(digest)  ·  slack_digest(digest) (the webhook)  ·  digest_html(digest)

One section per kind of change, each item with when, who (a person, a commit, or "seen in traffic"
when nothing recorded who) and what it affects (tenants, answers served, eval sets run against it):

    prompt    label moves with their gate results; versions first served to tenants
    model     models first served to tenants, and settings commits that changed llm.*
    index     sync runs with their counts; index versions first served, with the documents that changed
    settings  commits to dayshift.toml and the keys they changed
    gate      eval gate runs, passed and blocked
    alert     alerts opened, escalated and closed
    budget    spend per tenant against its daily budget (burn: the share of the budget for the window)

Left out: judging the changes (the monitor's findings do that) and diffs of prompt files
(`dayshift prompts diff` shows them).
"""

from __future__ import annotations

import html
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from rich.console import Console
from rich.text import Text

from dayshift.monitor import standup_sources as sources
from dayshift.monitor.report import clean_text, format_time

__all__ = ["KINDS", "Digest", "DigestItem", "StandupInputs", "build_digest", "digest_html", "digest_json",
           "print_digest", "slack_digest"]

KINDS = {"prompt": "Prompts", "model": "Models", "index": "Index syncs", "settings": "Settings",
         "gate": "Eval gates", "alert": "Alerts", "budget": "Budget"}


@dataclass(slots=True)
class DigestItem:
    kind: str  # a key of KINDS
    at: datetime
    title: str
    who: str
    affects: str
    status: str = ""  # passed | blocked | opened | closed | escalated | over | ...


@dataclass(slots=True)
class Digest:
    since: datetime
    until: datetime
    items: list[DigestItem]
    requests: int = 0
    spend_usd: float = 0.0
    notes: list[str] = field(default_factory=list)  # sources that could not be read, and why

    def of(self, kind: str) -> list[DigestItem]:
        return [i for i in self.items if i.kind == kind]


@dataclass(slots=True)
class StandupInputs:
    engine: sa.Engine | None = None  # the trace database
    alerts: Any = None  # monitor.alerts.AlertState
    registry: Any = None  # prompts.PromptRegistry
    catalogs: dict[str, Any] = field(default_factory=dict)  # tenant -> IngestCatalog
    eval_runs: list[Any] = field(default_factory=list)  # evals.run.EvalRun
    gates: list[dict[str, Any]] = field(default_factory=list)  # evals.gate_log entries
    settings_file: Path | None = None  # dayshift.toml, for its git history
    daily_budget_usd: float = 0.0  # all tenants together; 0: none
    tenant_budgets_usd: dict[str, float] = field(default_factory=dict)


def build_digest(inputs: StandupInputs, *, since: datetime, until: datetime) -> Digest:
    digest = Digest(since=since, until=until, items=[])
    changes = sources.traffic_changes(inputs.engine, since, until) if inputs.engine is not None else []
    spent = sources.spend(inputs.engine, since, until) if inputs.engine is not None else {}
    digest.requests = sum(n for _, n in spent.values())
    digest.spend_usd = sum(c for c, _ in spent.values())
    commits = sources.settings_commits(inputs.settings_file, since, until) if inputs.settings_file else []
    digest.items += _prompts(inputs, changes, since, until, digest)
    digest.items += _models(inputs, changes, commits)
    digest.items += _indexes(inputs, changes, since, until)
    digest.items += _settings(inputs, commits)
    digest.items += _gates(inputs, since, until)
    digest.items += _alerts(inputs, since, until)
    digest.items += _budget(inputs, spent, since, until)
    return digest


# -- each kind ----------------------------------------------------------------------------------------------


def _ran_against(runs: Iterable[Any], *, prompt: str | None = None, model: str | None = None,
                 index: str | None = None) -> str:
    """Which eval sets ran against a prompt version, model or index version, and how they did."""
    found = [r for r in runs if (prompt is None or r.config.prompt == prompt) and
             (model is None or r.config.model == model) and (index is None or r.config.index_version == index)]
    if not found:
        return "no eval set has run against it"
    by_set: dict[str, Any] = {}
    for run in sorted(found, key=lambda r: r.started_at):
        by_set[Path(run.config.dataset).name] = run
    return "eval sets: " + ", ".join(f"{name} (pass {run.summary()['pass_rate']:.0%}, {run.started_at[:16]})"
                                     for name, run in by_set.items())


def _prompts(inputs: StandupInputs, changes: list[sources.Change], since: datetime, until: datetime,
             digest: Digest) -> list[DigestItem]:
    items, moved = [], set()
    if inputs.registry is not None:
        try:
            moves = sources.label_moves(inputs.registry, since, until)
        except Exception as exc:  # noqa: BLE001 - a broken prompt folder must not hide the rest of the digest
            moves = []
            digest.notes.append(f"prompt history not read: {exc}")
        for move in moves:
            ref = f"{move.name}@v{move.version}"
            moved.add(ref)
            gates = [g for g in inputs.gates
                     if g.get("candidate") == ref and datetime.fromisoformat(g["at"]) <= move.at]
            gate = (f"gate {'passed' if gates[-1]['passed'] else 'BLOCKED'} on {Path(gates[-1]['dataset']).name} "
                    f"({gates[-1]['broken']} broken, {gates[-1]['fixed']} fixed)") if gates else "no gate run for it"
            served = [c for c in changes if c.kind == "prompt" and c.value == ref]
            where = f"; serving {', '.join(t for c in served for t in c.tenants)}" if served else ""
            previous = f"v{move.previous}" if move.previous else "(new label)"
            who = f"commit {move.commit[:7]} by {move.actor}" if move.commit else (move.actor or "unknown")
            items.append(DigestItem("prompt", move.at, f"{move.name}@{move.label}: {previous} → v{move.version}",
                                    f"{who}{': ' + move.message if move.message else ''}",
                                    f"{gate}; {_ran_against(inputs.eval_runs, prompt=ref)}{where}",
                                    status="passed" if gates and gates[-1]["passed"] else ""))
    for change in (c for c in changes if c.kind == "prompt"):
        was = f" (was {change.previous})" if change.previous else ""
        who = "label move above" if change.value in moved else "seen in traffic: no label move recorded"
        items.append(DigestItem("prompt", change.at, f"{change.value} first served to {', '.join(change.tenants)}{was}",
                                who, f"{change.answers:,} answers; "
                                     f"{_ran_against(inputs.eval_runs, prompt=_ref(change.value))}"))
    return items


def _ref(served: str) -> str:
    """"answer@v4" or "answer@4" as eval runs name it ("answer@v4")."""
    name, _, version = served.partition("@")
    return f"{name}@v{version.removeprefix('v')}"


def _models(inputs: StandupInputs, changes: list[sources.Change], commits: list[sources.Commit]) -> list[DigestItem]:
    items = []
    for commit in commits:
        llm = {k: v for k, v in commit.changed.items() if k.startswith("llm.") and k.endswith("model")}
        for key, (old, new) in llm.items():
            items.append(DigestItem("model", commit.at, f"{key}: {old or 'bundled'} → {new or 'bundled'}",
                                    f"commit {commit.sha[:7]} by {commit.author}: {commit.subject}",
                                    _ran_against(inputs.eval_runs, model=str(new)) if new else "every tenant"))
    for change in (c for c in changes if c.kind == "model"):
        was = f" (was {change.previous})" if change.previous else ""
        items.append(DigestItem("model", change.at, f"{change.value} first served to {', '.join(change.tenants)}{was}",
                                "seen in traffic" + (" (see the settings commit)" if items else ""),
                                f"{change.answers:,} answers; {_ran_against(inputs.eval_runs, model=change.value)}"))
    return items


def _indexes(inputs: StandupInputs, changes: list[sources.Change], since: datetime,
             until: datetime) -> list[DigestItem]:
    items, runs = [], sources.sync_runs(inputs.catalogs, since, until)
    stamps = {(tenant, at.strftime("%Y-%m-%dT%H:%M:%SZ")) for tenant, at, _, _ in runs}
    for tenant, at, root, counts in runs:
        counted = ", ".join(f"{counts.get(k, 0)} {k}" for k in ("added", "updated", "deleted", "failed"))
        items.append(DigestItem("index", at, f"{tenant}: sync of {root}: {counted}", "dayshift ingest",
                                f"tenant {tenant}"))
    for change in (c for c in changes if c.kind == "index"):
        tenants = ", ".join(change.tenants)
        if all((t, change.value.partition("@")[2]) in stamps for t in change.tenants):
            continue  # the catalog's run above says more
        docs = (f"{change.docs_changed} of {change.docs_seen} documents retrieved since came back in a new version"
                if change.docs_seen else "no document retrieved since")
        items.append(DigestItem("index", change.at, f"{tenants}: index {change.value} first served",
                                "a sync run (seen in traffic; its catalog is not in this data dir)",
                                f"{change.answers:,} answers; {docs}; "
                                f"{_ran_against(inputs.eval_runs, index=change.value)}"))
    return items


def _settings(inputs: StandupInputs, commits: list[sources.Commit]) -> list[DigestItem]:
    items = []
    for commit in commits:
        keys = "; ".join(f"{k}: {old!r} → {new!r}" for k, (old, new) in commit.changed.items()) or "no setting changed"
        after = [r for r in inputs.eval_runs if r.started_at >= commit.at.isoformat()]
        items.append(DigestItem("settings", commit.at, keys, f"commit {commit.sha[:7]} by {commit.author}: "
                                f"{commit.subject}", "every tenant's answers; " + (
                                    _ran_against(after) if after else "no eval set has run since")))
    return items


def _gates(inputs: StandupInputs, since: datetime, until: datetime) -> list[DigestItem]:
    items = []
    for g in sources.gate_runs(inputs.gates, since, until):
        verdict = "passed" if g["passed"] else "blocked"
        promoted = ", promoted to production" if g.get("promoted") else ""
        who = (g.get("actor") or "unknown") + (f" at commit {g['commit'][:7]}" if g.get("commit") else "")
        items.append(DigestItem("gate", datetime.fromisoformat(g["at"]),
                                f"{g['candidate']} against {g['baseline']}: {verdict.upper()} "
                                f"({g['broken']} broken, {g['fixed']} fixed, {g['flaky']} flaky{promoted})",
                                who, f"eval set {Path(g['dataset']).name}", status=verdict))
    return items


def _alerts(inputs: StandupInputs, since: datetime, until: datetime) -> list[DigestItem]:
    if inputs.alerts is None:
        return []
    items = []
    for e in inputs.alerts.events(since, until):
        scope = ", ".join(f"{k} {v}" for k, v in e.scope.items()) or "all traffic"
        items.append(DigestItem("alert", e.at, f"{e.event} {e.status}: {e.check}: {e.summary}",
                                "dayshift monitor watch", f"{scope}; runbook {e.runbook}", status=e.event))
    return items


def _budget(inputs: StandupInputs, spent: dict[str, tuple[float, int]], since: datetime,
            until: datetime) -> list[DigestItem]:
    days = max((until - since) / timedelta(days=1), 1e-9)
    items = []
    for tenant, (cost, requests) in sorted(spent.items(), key=lambda kv: -kv[1][0]):
        budget = inputs.tenant_budgets_usd.get(tenant)
        share = f"{cost / (budget * days):.0%} of its ${budget * days:,.2f} budget" if budget else "no tenant budget"
        status = "over" if budget and cost > budget * days else ""
        items.append(DigestItem("budget", until, f"{tenant}: ${cost:,.2f} over {requests:,} requests, {share}",
                                "", f"tenant {tenant}", status=status))
    if inputs.daily_budget_usd and spent:
        total, allowed = sum(c for c, _ in spent.values()), inputs.daily_budget_usd * days
        items.append(DigestItem("budget", until, f"all tenants: ${total:,.2f}, {total / allowed:.0%} of the "
                                f"${allowed:,.2f} budget for the window", "", "every tenant",
                                status="over" if total > allowed else ""))
    return items


# -- output -------------------------------------------------------------------------------------------------


def print_digest(digest: Digest, *, console: Console | None = None) -> None:
    console = console or Console()
    console.print(Text.assemble(("standup  ", "bold"), f"{format_time(digest.since)} → {format_time(digest.until)}",
                                f"  ·  {digest.requests:,} requests  ·  ${digest.spend_usd:,.2f} spent"))
    for kind, title in KINDS.items():
        items = digest.of(kind)
        console.print(Text.assemble("\n", (title, "bold"), (f"  {len(items) or 'none'}", "dim")))
        for item in items:
            when = item.at.strftime("%a %H:%M") if kind != "budget" else ""
            console.print(Text.assemble("  ", (f"{when:<10}", "dim"), clean_text(item.title)))
            if item.who:
                console.print(Text.assemble(" " * 12, ("who ", "dim"), clean_text(item.who)))
            console.print(Text.assemble(" " * 12, ("affects ", "dim"), clean_text(item.affects)))
    for note in digest.notes:
        console.print(Text(f"note: {note}", style="yellow"))


def digest_json(digest: Digest) -> dict[str, Any]:
    return {"since": digest.since.isoformat(), "until": digest.until.isoformat(), "requests": digest.requests,
            "spend_usd": round(digest.spend_usd, 6), "notes": digest.notes,
            "items": [{**asdict(i), "at": i.at.isoformat()} for i in digest.items]}


def slack_digest(digest: Digest) -> dict[str, Any]:
    """A Slack-compatible message: one section per kind that has items."""
    head = (f"Standup {digest.since:%a %d %b %H:%M} → {digest.until:%a %H:%M} UTC: {digest.requests:,} requests, "
            f"${digest.spend_usd:,.2f}")
    blocks: list[dict[str, Any]] = [{"type": "header", "text": {"type": "plain_text", "text": head[:150]}}]
    for kind, title in KINDS.items():
        items = digest.of(kind)
        if not items:
            continue
        lines = [f"• {i.at:%a %H:%M} {i.title} — _{i.who or i.affects}_" for i in items]
        blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": f"*{title}*\n" + "\n".join(lines)[:2900]}})
    counts = ", ".join(f"{len(digest.of(k))} {t.lower()}" for k, t in KINDS.items() if digest.of(k))
    return {"text": f"{head}: {counts or 'nothing changed'}", "blocks": blocks}


def digest_html(digest: Digest) -> str:
    """A <section> for the HTML report's top."""
    e = html.escape
    parts = ["<section class=\"standup\" data-testid=\"standup\"><h2>Since yesterday</h2>"]
    for kind, title in KINDS.items():
        items = digest.of(kind)
        if not items:
            continue
        parts.append(f"<h3>{e(title)}</h3><ul>")
        for i in items:
            who = f" <span class=\"who\">by {e(i.who)}</span>" if i.who else ""
            parts.append(f"<li><time>{e(i.at.strftime('%a %H:%M'))}</time> {e(i.title)}{who}"
                         f"<br><small>affects {e(i.affects)}</small></li>")
        parts.append("</ul>")
    if not digest.items:
        parts.append("<p>Nothing changed.</p>")
    parts.append("</section>\n")
    return "".join(parts)
