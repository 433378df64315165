"""Where the standup digest reads what changed: each source is a plain function returning its facts.

    traffic_changes(store, since, until)   prompt versions, models and index versions as first served to each
                                           tenant (the traces), with how many documents came back in a new version
    label_moves(registry, since, until)    prompt label moves, with who or which commit (git, else the registry log)
    sync_runs(catalogs, since, until)      ingest sync runs with their counts, per tenant (the catalogs)
    settings_commits(path, since, until)   commits to dayshift.toml: who, which commit, the keys that changed
    gate_runs(entries, since, until)       `dayshift eval gate` runs, passed or blocked (evals/gate_log)
    spend(store, since, until)             model spend per tenant (the traces)

Traffic shows what really served answers, whoever changed it; the registry, the catalogs, git and the
gate log say who did and why. The digest (monitor/standup.py) joins them.

Left out: the usage ledger (traces carry each answer's cost, and name the tenant the same way).
"""

from __future__ import annotations

import json
import subprocess
import tomllib
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from dayshift.trace.schema import traces as table

__all__ = ["Change", "Commit", "label_moves", "settings_commits", "spend", "sync_runs", "traffic_changes"]

_LOOKBACK = timedelta(days=7)  # how far back the value a tenant had before the window is looked for


@dataclass(slots=True)
class Change:
    """Something a tenant's traffic started being served with: a prompt version, a model, an index version."""

    kind: str  # prompt | model | index
    at: datetime  # first served
    value: str
    previous: str  # "" when nothing was served before
    tenants: list[str]
    answers: int = 0  # requests served with it in the window
    docs_changed: int = 0  # index: documents retrieved in a new version after it (seen in answers)
    docs_seen: int = 0  # index: documents retrieved after it


def traffic_changes(engine: sa.Engine, since: datetime, until: datetime) -> list[Change]:
    """Each (tenant, kind) value first served in [since, until) that differs from the one before it."""
    t = table.c
    statement = (sa.select(t.started_at, t.tenant, t.prompt_name, t.prompt_version, t.model,
                           t.params["index_version"].as_string(), t.retrieved)
                 .where(t.started_at >= since - _LOOKBACK, t.started_at < until, t.route != "/v1/search")
                 .order_by(t.started_at, t.trace_id))
    current: dict[tuple[str, str], str] = {}
    opened: dict[tuple[str, str, str, str], Change] = {}  # (kind, value, previous, hour) -> change
    served: dict[tuple[str, str, str], int] = {}  # (kind, tenant, value) -> requests in the window
    versions: dict[tuple[str, str], str] = {}  # (tenant, doc) -> version last retrieved
    watching: dict[str, tuple[Change, dict[str, str], set[str], set[str]]] = {}  # tenant -> index change, before
    with engine.connect() as connection:
        for at, tenant, name, version, model, index, retrieved in connection.execute(statement):
            at = at if at.tzinfo else at.replace(tzinfo=UTC)
            values = {"prompt": f"{name or 'prompt'}@{version}" if version else "", "model": model or "",
                      "index": index or ""}
            for kind, value in values.items():
                if not value:
                    continue
                before = current.get((tenant, kind))
                current[(tenant, kind)] = value
                if at >= since:
                    served[(kind, tenant, value)] = served.get((kind, tenant, value), 0) + 1
                if at < since or before == value or (before is None and kind != "index"):
                    continue
                change = _grouped(opened, kind, value, before or "", at)
                if tenant not in change.tenants:
                    change.tenants.append(tenant)
                if kind == "index":
                    _settle(watching.pop(tenant, None))
                    watching[tenant] = (change, dict(versions_of(versions, tenant)), set(), set())
            _watch_documents(watching.get(tenant), tenant, _chunks(retrieved), versions)
    for change in opened.values():
        change.answers = sum(served.get((change.kind, tenant, change.value), 0) for tenant in change.tenants)
    for watch in watching.values():
        _settle(watch)
    return sorted(opened.values(), key=lambda c: c.at)


def _settle(watch: Any) -> None:
    if watch is not None:
        change, _before, seen, changed = watch
        change.docs_seen += len(seen)
        change.docs_changed += len(changed)


def versions_of(versions: dict[tuple[str, str], str], tenant: str) -> Iterable[tuple[str, str]]:
    return ((doc, v) for (t, doc), v in versions.items() if t == tenant)


def _grouped(opened: dict[tuple[str, str, str, str], Change], kind: str, value: str, previous: str,
             at: datetime) -> Change:
    """Tenants moving to the same value from the same one within the hour are one change."""
    for (k, v, p, _), change in opened.items():
        if (k, v, p) == (kind, value, previous) and at - change.at < timedelta(hours=1):
            return change
    change = Change(kind=kind, at=at, value=value, previous=previous, tenants=[])
    opened[(kind, value, previous, at.isoformat())] = change
    return change


def _chunks(retrieved: Any) -> list[dict[str, Any]]:
    data = json.loads(retrieved) if isinstance(retrieved, str) else retrieved
    return data or []


def _watch_documents(watch: Any, tenant: str, chunks: list[dict[str, Any]],
                     versions: dict[tuple[str, str], str]) -> None:
    for chunk in chunks:
        doc, version = chunk.get("doc_id", ""), chunk.get("doc_version", "")
        if watch is not None:
            _change, before, seen, changed = watch
            seen.add(doc)
            if doc in before and before[doc] != version:
                changed.add(doc)
        versions[(tenant, doc)] = version


def spend(engine: sa.Engine, since: datetime, until: datetime) -> dict[str, tuple[float, int]]:
    """tenant -> (model spend in USD, requests) in [since, until)."""
    t = table.c
    statement = (sa.select(t.tenant, sa.func.sum(t.cost_usd), sa.func.count())
                 .where(t.started_at >= since, t.started_at < until).group_by(t.tenant))
    with engine.connect() as connection:
        return {tenant: (float(cost or 0.0), int(n)) for tenant, cost, n in connection.execute(statement)}


# -- prompts, syncs, settings, gates ---------------------------------------------------------------------


def label_moves(registry: Any, since: datetime, until: datetime) -> list[Any]:
    """The registry's label moves (HistoryEntry, event "label") of every prompt in [since, until)."""
    moves = []
    for name in registry.names():
        moves += [e for e in registry.history(name) if e.event == "label" and since <= e.at < until]
    return sorted(moves, key=lambda e: e.at)


def sync_runs(catalogs: dict[str, Any], since: datetime, until: datetime) -> list[tuple[str, datetime, str, dict]]:
    """(tenant, finished, root, counts) of each sync run finished in [since, until) that changed the index."""
    out = []
    for tenant, catalog in catalogs.items():
        for root, _started, finished, counts in catalog.runs(limit=500):
            if finished is None:
                continue
            at = datetime.fromtimestamp(finished, UTC)
            changed = sum(int(counts.get(k, 0)) for k in ("added", "updated", "deleted"))
            if since <= at < until and (changed or counts.get("failed")):
                out.append((tenant, at, root, counts))
    return sorted(out, key=lambda r: r[1])


@dataclass(frozen=True, slots=True)
class Commit:
    sha: str
    at: datetime
    author: str
    subject: str
    changed: dict[str, tuple[Any, Any]] = field(default_factory=dict)  # "retrieve.mode" -> (before, after)


def settings_commits(path: Path, since: datetime, until: datetime) -> list[Commit]:
    """Commits to the settings file in [since, until) with the keys each changed; [] outside git."""
    path = Path(path).resolve()
    if not path.is_file():
        return []
    log = _git(path.parent, "log", f"--since={since.isoformat()}", f"--until={until.isoformat()}",
               "--format=%H%x1f%aI%x1f%an%x1f%s", "--", path.name)
    commits = []
    for line in reversed((log or "").splitlines()):  # git lists newest first
        sha, at, author, subject = line.split("\x1f", 3)
        after = _toml(_git(path.parent, "show", f"{sha}:./{path.name}"))
        before = _toml(_git(path.parent, "show", f"{sha}^:./{path.name}"))
        changed = {k: (before.get(k), after.get(k)) for k in sorted(before.keys() | after.keys())
                   if before.get(k) != after.get(k) and not _secret(k)}
        commits.append(Commit(sha, datetime.fromisoformat(at).astimezone(UTC), author, subject, changed))
    return sorted(commits, key=lambda c: c.at)


def _secret(key: str) -> bool:
    return key.rsplit(".", 1)[-1] in ("api_key", "admin_key", "url", "read_url", "password")


def _toml(text: str | None) -> dict[str, Any]:
    try:
        return _flat(tomllib.loads(text or ""))
    except tomllib.TOMLDecodeError:
        return {}


def _flat(data: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in data.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            out.update(_flat(value, f"{name}."))
        else:
            out[name] = value
    return out


def _git(folder: Path, *args: str) -> str | None:
    try:
        done = subprocess.run(["git", *args], cwd=folder, capture_output=True, text=True, timeout=30, check=False)
    except OSError:
        return None
    return done.stdout if done.returncode == 0 else None


def gate_runs(entries: list[dict[str, Any]], since: datetime, until: datetime) -> list[dict[str, Any]]:
    return [e for e in entries if since <= datetime.fromisoformat(e["at"]) < until]
