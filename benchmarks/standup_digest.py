"""The standup digest on the three simulated weeks of benchmarks/incidents.py: each morning's digest.

    python benchmarks/standup_digest.py [--work DIR] [--json] [--data ../shared/data]

The traffic and the watch's alerts are those of benchmarks/incidents.py (same seed, same rules, the
same daily budget): the traces are written, then the watch is replayed every 15 simulated minutes,
its alert state recording each alert opened and closed. Then the digest is built as `dayshift standup
--since 24h` builds it at 09:00 UTC each morning: the digest for "Wed" is the one read on Thursday
at 09:00, covering Wednesday 09:00 to Thursday 09:00. The check: the prompt change of Wednesday 10:00
(answer@v4, acme and globex) is named in Wednesday's digest, and the re-index of Friday 09:00 (globex)
in Friday's and no other. `--work DIR` keeps (and reuses) the traces and the alert state.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import tempfile
from datetime import timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import incidents  # noqa: E402
import numpy as np  # noqa: E402
from rich.console import Console  # noqa: E402
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn  # noqa: E402

from dayshift.monitor.alerts import AlertState  # noqa: E402
from dayshift.monitor.rules import load_rules  # noqa: E402
from dayshift.monitor.standup import StandupInputs, build_digest, digest_json, print_digest  # noqa: E402
from dayshift.trace.store import TraceStore, create_trace_engine, default_trace_url  # noqa: E402

DAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")


def prepare(work: Path, data: Path, console: Console) -> float:
    """Traces and the alert state of the incident run in `work` (made now, or kept from an earlier run)."""
    columns = (TextColumn("{task.description:<22}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    done = work / "standup-replayed"
    with Progress(*columns, console=console) as progress:
        table, budget = incidents.prepare(work, data=data, seed=0, progress=progress)
        if not done.exists():
            (work / "alerts.sqlite").unlink(missing_ok=True)
            rules = dataclasses.replace(load_rules(), daily_budget_usd=budget)
            with TraceStore(default_trace_url(work)) as store:
                incidents.replay(store, lambda texts: np.stack([table[t] for t in texts]), rules=rules,
                                 state_path=work / "alerts.sqlite", progress=progress)
            done.write_text("the watch was replayed over this store; alerts.sqlite holds its alert events\n")
    return budget


def mentions(digest: dict[str, Any], kind: str, *words: str) -> bool:
    return any(i["kind"] == kind and all(w in i["title"] for w in words) for i in digest["items"])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=Path(__file__).resolve().parents[2] / "shared" / "data")
    parser.add_argument("--work", type=Path, help="keep the simulated store and alert state here, and reuse them")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    work = args.work or Path(tempfile.mkdtemp(prefix="dayshift-standup-"))
    work.mkdir(parents=True, exist_ok=True)
    console = Console(stderr=True)
    budget = prepare(work, args.data, console)
    engine = create_trace_engine(default_trace_url(work))
    digests = {}
    with AlertState(work / "alerts.sqlite") as alerts:
        inputs = StandupInputs(engine=engine, alerts=alerts, daily_budget_usd=budget)
        for i, day in enumerate(DAYS):
            morning = incidents.INCIDENT + timedelta(days=i + 1, hours=9)  # the morning after `day`
            digests[day] = build_digest(inputs, since=morning - timedelta(hours=24), until=morning)
    engine.dispose()
    as_json = {day: digest_json(d) for day, d in digests.items()}
    checks = {
        "prompt_change_named_on": [d for d, j in as_json.items() if mentions(j, "prompt", "answer@v4 first served")],
        "reindex_named_on": [d for d, j in as_json.items() if any(
            i["kind"] == "index" and "globex" in i["title"] and "sync-" in i["title"]
            and i["at"] >= (incidents.INCIDENT + timedelta(days=4, hours=9)).isoformat()
            and i["at"] < (incidents.INCIDENT + timedelta(days=4, hours=10)).isoformat() for i in j["items"])],
    }
    checks["ok"] = checks["prompt_change_named_on"][:1] == ["Wed"] and checks["reindex_named_on"] == ["Fri"]
    if args.json:
        print(json.dumps({"checks": checks, "digests": as_json}, indent=2, default=str))
    else:
        out = Console(highlight=False, width=140)
        for day, digest in digests.items():
            out.rule(f"standup on the morning after {day} (covering {day} 09:00 → next day 09:00 UTC)")
            print_digest(digest, console=out)
        out.print(checks)
    return 0 if checks["ok"] else 1


if __name__ == "__main__":
    raise SystemExit(main())
