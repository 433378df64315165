"""The watch: the same findings as a one-off run, windows on their cadence, settled traces read once."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path

from monitor_traffic import END, Change, hour, week, write

from dayshift.monitor.rules import Rules
from dayshift.monitor.run import Watch, WatchWindow, run_detectors
from dayshift.trace.store import StoredTrace, TraceStore, default_trace_url

HOUR = timedelta(hours=1)


class CountingStore(TraceStore):
    """A TraceStore that counts the traces its scans return."""

    read = 0

    def scan(self, since: datetime, until: datetime, **kwargs) -> Iterator[StoredTrace]:  # type: ignore[no-untyped-def, override]
        for trace in super().scan(since, until, **kwargs):
            self.read += 1
            yield trace


def test_watch_matches_a_one_off_run_and_reads_settled_traces_once(tmp_path: Path, rules: Rules) -> None:
    with CountingStore(default_trace_url(tmp_path)) as store:
        write(store, week(every_hour=True, per_hour=10))
        write(store, hour(change=Change(abstain_p=0.6), per_hour=40))
        write(store, hour(END + HOUR, per_hour=10, seed=7, id_base=500_000))
        watch = Watch(store, rules=rules, windows=(WatchWindow(HOUR, timedelta(minutes=15)),
                                                   WatchWindow(24 * HOUR, HOUR)))
        first = watch.tick(END)
        assert [r.until - r.since for r in first] == [HOUR, 24 * HOUR]
        assert store.read == store.count() - 20  # the whole lookback once, nothing after END
        once = run_detectors(store, since=END - HOUR, until=END, rules=rules, now=END)
        assert [(f.check, f.status, f.scope, f.evidence.get("z")) for f in first[0].findings] == \
               [(f.check, f.status, f.scope, f.evidence.get("z")) for f in once.findings]
        assert {f.check: f.status for f in first[0].findings}["abstention_rate"] == "alert"

        unsettled = sum(1 for _ in store.scan(END - timedelta(minutes=30), END + timedelta(minutes=15)))
        store.read = 0
        later = watch.tick(END + timedelta(minutes=15))
        assert [r.until - r.since for r in later] == [HOUR]  # the day's window is due hourly
        assert store.read == unsettled  # only what was not settled (30 min) at the last tick was read again
        assert [r.until - r.since for r in watch.tick(END + HOUR)] == [HOUR, 24 * HOUR]
