"""Run the detectors over a window of traces: once (a report) or every few minutes (the watch).

    report = run_detectors(store, since=t - 24h, until=t, rules=load_rules(), embed_queries=embed)
    watch = Watch(store, rules=rules, embed_queries=embed)      # what `dayshift monitor watch` drives
    for report in watch.tick(now): ...                          # the windows due at `now`

The window under test is compared with the same window on each of the
previous `reference_days` days (a window longer than a day steps back by
whole multiples of its length in days). Only those windows are read, so an
hour's check reads eight hours of traces, not a week.

`Watch` keeps the settled past (traces older than `settle`, by when their
feedback has arrived) as columns in memory, re-reads only the unsettled
recent past on each tick, and embeds each distinct question once. Feedback
given later than `settle` after its answer reaches reports, not the watch.

Left out: sending alerts (monitor/alerts.py does, from the findings) and
scheduling (the CLI's loop calls `tick`).
"""

from __future__ import annotations

import math
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Protocol

import numpy as np

from dayshift.errors import QueryError
from dayshift.monitor.detectors import Context, EmbedQueries, detectors
from dayshift.monitor.findings import MonitorReport
from dayshift.monitor.frame import Frame, VersionHistory, build_frame
from dayshift.monitor.rules import Rules
from dayshift.trace.store import TraceStore

__all__ = ["DEFAULT_WINDOWS", "Watch", "WatchWindow", "reference_windows", "run_detectors"]

_DAY = timedelta(days=1)


class FrameSource(Protocol):
    def frame(self, since: datetime, until: datetime) -> Frame: ...


def reference_windows(since: datetime, until: datetime, *, reference_days: int
                      ) -> tuple[timedelta, list[tuple[datetime, datetime]]]:
    """(step, [(since - k step, until - k step) for k = 1..]): the same window on past days, newest first."""
    if until <= since:
        raise QueryError(f"the window is empty: since ({since:%Y-%m-%d %H:%M}) must be before until "
                         f"({until:%Y-%m-%d %H:%M})")
    step = _DAY * max(1, math.ceil((until - since) / _DAY))
    periods = max(1, reference_days // step.days)
    return step, [(since - k * step, until - k * step) for k in range(1, periods + 1)]


def run_detectors(store: TraceStore, *, since: datetime, until: datetime, rules: Rules,
                  embed_queries: EmbedQueries | None = None, now: datetime | None = None) -> MonitorReport:
    """Every detector over the traces started in [since, until); feedback given after `now` is ignored."""
    return evaluate(_StoreSource(store, now=now), since=since, until=until, rules=rules, embed_queries=embed_queries)


def evaluate(source: FrameSource, *, since: datetime, until: datetime, rules: Rules,
             embed_queries: EmbedQueries | None = None) -> MonitorReport:
    since, until = _utc(since), _utc(until)
    step, windows = reference_windows(since, until, reference_days=rules.reference_days)
    past = [(k, source.frame(a, b)) for k, (a, b) in reversed(list(enumerate(windows, 1)))]  # oldest first
    current = source.frame(since, until)
    reference = Frame.concat([f for _, f in past])
    period = np.concatenate([np.full(len(f), k, dtype=np.int64) for k, f in past]) if past else np.zeros(0, int)
    ctx = Context(since=since, until=until, current=current, reference=reference, period=period,
                  step_s=step.total_seconds(), rules=rules, embed_queries=embed_queries)
    findings = [f for detect in detectors() for f in detect(ctx)]
    return MonitorReport(since=since, until=until, findings=findings, traces=len(current), served=ctx.config({}))


class _StoreSource:
    """Reads each window from the store (windows asked for oldest first, so document versions age right)."""

    def __init__(self, store: TraceStore, *, now: datetime | None) -> None:
        self.store, self.now, self.history = store, now, VersionHistory()

    def frame(self, since: datetime, until: datetime) -> Frame:
        return build_frame(self.store.scan(since, until), now=self.now, history=self.history)


@dataclass(frozen=True, slots=True)
class WatchWindow:
    length: timedelta  # the trailing window tested
    every: timedelta  # how often


DEFAULT_WINDOWS = (WatchWindow(timedelta(hours=1), timedelta(minutes=15)),  # sudden changes, within the hour
                   WatchWindow(timedelta(hours=24), timedelta(hours=1)))  # slow slides, within the day


class Watch:
    """The detectors over trailing windows, run as time passes; settled traces are read from the store once."""

    def __init__(self, store: TraceStore, *, rules: Rules, embed_queries: EmbedQueries | None = None,
                 windows: Sequence[WatchWindow] = DEFAULT_WINDOWS, settle: timedelta = timedelta(minutes=30),
                 max_cached_queries: int = 100_000) -> None:
        self.rules, self.windows = rules, tuple(windows)
        self.embed_queries = _Memo(embed_queries, max_cached_queries) if embed_queries is not None else None
        longest, at = max(w.length for w in self.windows), datetime.now(UTC)
        step, past = reference_windows(at - longest, at, reference_days=rules.reference_days)
        self._cache = _SettledCache(store, settle=settle, lookback=longest + step * len(past))
        self._last: dict[WatchWindow, datetime] = {}

    def tick(self, now: datetime) -> list[MonitorReport]:
        """A report for each window due at `now` (each window's first tick is always due)."""
        now = _utc(now)
        self._cache.advance(now)
        due = [w for w in self.windows if w not in self._last or now - self._last[w] >= w.every]
        reports = []
        for window in due:
            self._last[window] = now
            reports.append(evaluate(self._cache, since=now - window.length, until=now, rules=self.rules,
                                    embed_queries=self.embed_queries))
        return reports


class _SettledCache:
    """The settled past (traces older than `settle`, their feedback in) as one growing Frame, read once;
    the unsettled tail is read again on every tick. The first tick reads the whole lookback, oldest
    first, so document versions are learned in order."""

    def __init__(self, store: TraceStore, *, settle: timedelta, lookback: timedelta) -> None:
        self.store, self.settle, self.lookback = store, settle, lookback
        self.history = VersionHistory()
        self.settled = self.tail = build_frame([], now=None)
        self.frontier: datetime | None = None  # everything before it is in `settled`

    def advance(self, now: datetime) -> None:
        target = now - self.settle
        if self.frontier is None:
            self.frontier = now - self.lookback
        if target > self.frontier:
            fresh = build_frame(self.store.scan(self.frontier, target), now=now, history=self.history)
            kept = self.settled.between((now - self.lookback - _DAY).timestamp(), math.inf)
            self.settled, self.frontier = Frame.concat([kept, fresh]), target
        self.tail = build_frame(self.store.scan(self.frontier, now), now=now, history=self.history)

    def frame(self, since: datetime, until: datetime) -> Frame:
        a, b = since.timestamp(), until.timestamp()
        return Frame.concat([self.settled.between(a, b), self.tail.between(a, b)])


class _Memo:
    """embed_queries with a bounded cache by text: the reference questions recur in every tick."""

    def __init__(self, embed: EmbedQueries, capacity: int) -> None:
        self.embed, self.capacity = embed, capacity
        self._vectors: OrderedDict[str, np.ndarray] = OrderedDict()

    def __call__(self, texts: Sequence[str]) -> np.ndarray:
        missing = [t for t in dict.fromkeys(texts) if t not in self._vectors]
        if missing:
            for text, vector in zip(missing, np.asarray(self.embed(missing), dtype=np.float32)):
                self._vectors[text] = vector
        out = np.stack([self._vectors[t] for t in texts]) if texts else np.zeros((0, 0), np.float32)
        for text in texts:
            self._vectors.move_to_end(text)
        while len(self._vectors) > self.capacity:
            self._vectors.popitem(last=False)
        return out


def _utc(at: datetime) -> datetime:
    return at.replace(tzinfo=UTC) if at.tzinfo is None else at.astimezone(UTC)
