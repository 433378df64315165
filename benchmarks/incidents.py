"""Incidents: does the monitor catch six realistic failures quickly, and stay quiet on a clean week?

    python benchmarks/incidents.py [--json] [--seed 0] [--data ../shared/data] [--work DIR] [--rules my-rules.toml]

--work keeps the trace store and the question embeddings in DIR, and a later
run with the same DIR replays them again instead of simulating (the slow half).

Three weeks of simulated traffic (benchmarks/_traffic.py) go into a trace
store (SQLite in a temp dir, through TraceStore.write): a warm-up week that
only serves as history, a clean control week, and an incident week:

    (f) feedback slide  Mon 06:00  the chance of a thumbs-down climbs steadily to 2.5x over 48 h, and stays
    (a) cost spike      Tue 03:00  a runaway batch client of globex: 4 requests/min with 7.8k-token
                                   contexts on gpt-4o, for 2 h
    (b) prompt change   Wed 10:00  acme and globex move to prompt answer@v4, which doubles abstentions;
                                   rolled back 24 h later
    (c) new topic       Thu 14:00  a fifth of acme's questions are now about Rust (Rust book headings)
    (d) stale re-index  Fri 09:00  globex re-indexes 40% of its documents (a sync run, so a new index
                                   version) but the old chunks stay: half of their retrievals return
                                   the old version
    (e) silent reranker Sat 11:00  the re-ranker returns at once without re-ranking (fused scores,
                                   0.1-0.4 ms rerank stage) for every re-ranked tenant, for 24 h

Time is then replayed as `dayshift monitor watch` runs: every 15 minutes the
detectors run over the trailing hour, every hour over the trailing day, each
against the same window on the 7 previous days, and alerts go through the
dedup and cooldown of monitor/alerts.py (no webhook). An incident counts as
detected at its first alert from one of the checks that describe it; the
target is within 60 minutes of onset (the slow slide: within a day), and
the JSON gives that alert's live config (prompt version, model, index
version). Every alert of the clean week is a false alert. The thresholds are the shipped
rules.toml's (chosen from the statistics, see its header), with one setting
added: a daily budget of 1.5 times the warm-up week's mean weekday spend.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import numpy as np
from _traffic import TENANTS, Effects, Traffic
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from dayshift.assemble import open_embedder
from dayshift.monitor.alerts import AlertState, notify
from dayshift.monitor.rules import Rules, load_rules
from dayshift.monitor.run import Watch
from dayshift.settings import load_settings
from dayshift.trace.store import TraceStore, default_trace_url

WARMUP = datetime(2025, 3, 3, tzinfo=UTC)  # a Monday
CLEAN = WARMUP + timedelta(days=7)
INCIDENT = CLEAN + timedelta(days=7)
END = INCIDENT + timedelta(days=7)
H = timedelta(hours=1)


@dataclass(frozen=True, slots=True)
class Incident:
    name: str
    onset: datetime
    end: datetime  # when its cause was removed (END: never)
    detects: frozenset[str]  # checks whose alert counts as detecting it
    explains: frozenset[str]  # further checks it legitimately sets off (consequences)
    target_min: int


INCIDENTS = (
    Incident("feedback_slide", INCIDENT + 6 * H, END, frozenset({"negative_feedback", "feedback_slide"}), frozenset(),
             24 * 60),
    Incident("cost_spike", INCIDENT + 27 * H, INCIDENT + 29 * H,
             frozenset({"cost_spike", "tokens_per_request", "budget_burn"}), frozenset(), 60),
    Incident("prompt_change", INCIDENT + 58 * H, INCIDENT + 82 * H, frozenset({"abstention_rate", "confidence_shift"}),
             frozenset({"negative_feedback", "feedback_slide", "citation_coverage"}), 60),
    Incident("new_topic", INCIDENT + 86 * H, END, frozenset({"query_drift"}),
             frozenset({"abstention_rate", "confidence_shift", "low_evidence", "top_score_shift", "negative_feedback",
                        "feedback_slide"}), 60),
    Incident("stale_reindex", INCIDENT + 105 * H, END, frozenset({"stale_answers"}), frozenset(), 60),
    Incident("silent_reranker", INCIDENT + 131 * H, INCIDENT + 155 * H, frozenset({"reranker_silent", "top_score_shift"}),
             frozenset({"low_evidence", "confidence_shift", "abstention_rate", "negative_feedback", "feedback_slide"}),
             60),
)
_AT = {i.name: i for i in INCIDENTS}


def effects_at(at: datetime) -> Effects:
    fx = Effects()
    active = {i.name for i in INCIDENTS if i.onset <= at < i.end}
    if "feedback_slide" in active:
        fx.down_multiplier = 1 + 1.5 * min(1.0, (at - _AT["feedback_slide"].onset) / timedelta(hours=48))
    if "prompt_change" in active:
        fx.prompt, fx.confidence_shift = {"acme": "v4", "globex": "v4"}, 0.18  # 19% -> 38% abstained
    if "new_topic" in active:
        fx.new_topic_share = {"acme": 0.2}
    if "stale_reindex" in active:
        fx.stale_docs, fx.reindexed = {"globex": 0.5}, {"globex": _AT["stale_reindex"].onset}
    fx.reranker_down = "silent_reranker" in active
    return fx


def runaway_job(start: datetime, end: datetime, rng: np.random.Generator) -> list[tuple[float, Any]]:
    """Incident (a): a batch client of globex, 4 requests a minute with whole documents as context, on gpt-4o."""
    spike = _AT["cost_spike"]
    if not (start <= spike.onset < end):
        return []
    batch = dataclasses.replace(next(t for t in TENANTS if t.name == "globex"), model="gpt-4o", heavy=True)
    minutes = int((spike.end - spike.onset) / timedelta(minutes=1))
    times = spike.onset.timestamp() + np.sort(rng.uniform(0, minutes * 60, rng.poisson(4 * minutes)))
    return [(float(t), batch) for t in times]


def simulate(store: TraceStore, *, data: Path, seed: int, progress: Progress) -> tuple[list[str], float]:
    """Write three weeks of traffic; returns every distinct question asked, and the warm-up's weekday spend."""
    traffic = Traffic(data, seed=seed, effects_at=effects_at)
    task = progress.add_task("writing traces", total=int((END - WARMUP) / H))
    questions: set[str] = set()
    warmup_weekday_usd = 0.0
    for batch, feedback in traffic.generate(WARMUP, END, runaway_job):
        store.write(batch)
        for fb in feedback:
            store.add_feedback(fb)
        questions.update(r.query for r in batch if r.query)
        warmup_weekday_usd += sum(r.cost_usd for r in batch if r.started_at < CLEAN and r.started_at.weekday() < 5)
        progress.advance(task)
    return sorted(questions), warmup_weekday_usd / 5


def embed_all(questions: list[str], *, progress: Progress) -> dict[str, np.ndarray]:
    """Every distinct question through the real embedder once, in batches."""
    embedder = open_embedder(load_settings(data_dir=Path(tempfile.mkdtemp(prefix="dayshift-embed-"))))
    task = progress.add_task("embedding questions", total=len(questions))
    table: dict[str, np.ndarray] = {}
    for start in range(0, len(questions), 256):
        chunk = questions[start : start + 256]
        for text, vector in zip(chunk, embedder.embed(chunk, kind="query")):
            table[text] = vector
        progress.advance(task, len(chunk))
    return table


def replay(store: TraceStore, embed: Any, *, rules: Rules, state_path: Path, progress: Progress
           ) -> list[dict[str, Any]]:
    """Tick every 15 simulated minutes over the clean and incident weeks; every alert sent, in order."""
    watch = Watch(store, rules=rules, embed_queries=embed)
    alerts: list[dict[str, Any]] = []
    ticks = int((END - CLEAN) / timedelta(minutes=15))
    task = progress.add_task("replaying the watch", total=ticks)
    with AlertState(state_path) as state:
        for i in range(1, ticks + 1):
            now = CLEAN + i * timedelta(minutes=15)
            findings = [f for report in watch.tick(now) for f in report.findings]
            for alert in notify(findings, rules=rules, state=state, sink=None, now=now):
                f = alert.finding
                alerts.append({"at": now, "check": f.check, "key": alert.key, "summary": f.summary,
                               "started_at": f.started_at, "config": f.config})
            progress.advance(task)
    return alerts


def score(alerts: list[dict[str, Any]]) -> dict[str, Any]:
    incidents = []
    for inc in INCIDENTS:
        during = [a for a in alerts if inc.onset <= a["at"] <= inc.onset + timedelta(days=2)]
        hits = [a for a in during if a["check"] in inc.detects]
        minutes = (hits[0]["at"] - inc.onset) / timedelta(minutes=1) if hits else None
        first: dict[str, float] = {}
        for a in during:
            if a["check"] in inc.detects | inc.explains:
                first.setdefault(a["check"], (a["at"] - inc.onset) / timedelta(minutes=1))
        incidents.append({"name": inc.name, "onset": inc.onset.isoformat(), "detected": minutes is not None,
                          "minutes_to_detect": minutes, "target_minutes": inc.target_min,
                          "within_target": minutes is not None and minutes <= inc.target_min,
                          "by": hits[0]["check"] if hits else None, "alert": hits[0]["summary"] if hits else None,
                          "config": hits[0]["config"] if hits else None,
                          "first_alert_minutes_by_check": first})
    clean = [a for a in alerts if CLEAN <= a["at"] < INCIDENT]
    unexplained = [a for a in alerts if a["at"] >= INCIDENT and not any(
        a["check"] in inc.detects | inc.explains and inc.onset <= a["at"] <= inc.end + timedelta(days=1)
        for inc in INCIDENTS)]
    return {"incidents": incidents, "false_alerts_clean_week": len(clean),
            "false_alerts": [_brief(a) for a in clean], "unexplained_alerts_incident_week": len(unexplained),
            "unexplained": [_brief(a) for a in unexplained], "alerts_incident_week": len(alerts) - len(clean)}


def _brief(alert: dict[str, Any]) -> dict[str, str]:
    return {"at": alert["at"].isoformat(), "key": alert["key"], "summary": alert["summary"]}


def prepare(work: Path, *, data: Path, seed: int, progress: Progress) -> tuple[dict[str, np.ndarray], float]:
    """The traffic in work/traces.sqlite and every question's vector, simulated now or kept from a run before."""
    saved, meta = work / "questions.npz", work / "meta.json"
    with TraceStore(default_trace_url(work)) as store:
        if saved.exists() and meta.exists():
            kept = json.loads(meta.read_text())
            return dict(zip(kept["questions"], np.load(saved)["vectors"])), kept["daily_budget_usd"]
        if store.count():
            raise SystemExit(f"{work} holds an unfinished run: delete it, or pass another --work")
        questions, weekday_usd = simulate(store, data=data, seed=seed, progress=progress)
    table = embed_all(questions, progress=progress)
    budget = round(1.5 * weekday_usd, 2)
    np.savez(saved, vectors=np.stack([table[q] for q in questions]))
    meta.write_text(json.dumps({"questions": questions, "daily_budget_usd": budget, "seed": seed}))
    return table, budget


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=Path(__file__).resolve().parents[2] / "shared" / "data")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--work", type=Path, help="keep the simulated store here, and reuse it if it is there")
    parser.add_argument("--rules", type=Path, help="a rules file laid over the shipped rules.toml")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args()
    console = Console(stderr=True)
    work = args.work or Path(tempfile.mkdtemp(prefix="dayshift-incidents-"))
    work.mkdir(parents=True, exist_ok=True)
    (work / "alerts.sqlite").unlink(missing_ok=True)
    started, cpu = time.perf_counter(), time.process_time()
    columns = (TextColumn("{task.description:<22}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, console=console) as progress:
        table, budget = prepare(work, data=args.data, seed=args.seed, progress=progress)
        with TraceStore(default_trace_url(work)) as store:
            rules = dataclasses.replace(load_rules(args.rules), daily_budget_usd=budget)
            alerts = replay(store, lambda texts: np.stack([table[t] for t in texts]), rules=rules,
                            state_path=work / "alerts.sqlite", progress=progress)
            result = score(alerts)
            result["traces"], result["daily_budget_usd"] = store.count(), budget
    result["seconds"] = round(time.perf_counter() - started, 1)
    result["cpu_seconds"] = round(time.process_time() - cpu, 1)
    if args.json:
        print(json.dumps(result, indent=2, default=str))
    else:
        print_table(result, Console())
    return 0


def print_table(result: dict[str, Any], console: Console) -> None:
    table = Table(title=f"Incidents ({result['traces']} traces; {result['seconds']} s, "
                        f"{result['cpu_seconds']} s of CPU)")
    for column in ("incident", "onset (UTC)", "detected after", "target", "first alert"):
        table.add_column(column)
    for inc in result["incidents"]:
        after = f"{inc['minutes_to_detect']:.0f} min" if inc["detected"] else "not detected"
        table.add_row(inc["name"], inc["onset"][:16].replace("T", " "), after, f"{inc['target_minutes']} min",
                      f"{inc['by']}: {inc['alert']}" if inc["by"] else "")
    console.print(table)
    console.print(f"false alerts in the clean week: {result['false_alerts_clean_week']}")
    for a in result["false_alerts"]:
        console.print(f"  {a['at'][:16]}  {a['key']}: {a['summary']}")
    console.print(f"alerts in the incident week: {result['alerts_incident_week']}, "
                  f"of which unexplained by any incident: {result['unexplained_alerts_incident_week']}")
    for a in result["unexplained"]:
        console.print(f"  {a['at'][:16]}  {a['key']}: {a['summary']}")


if __name__ == "__main__":
    sys.exit(main())
