"""Several processes opening the same new SQLite file at once all get a WAL database."""

from __future__ import annotations

import multiprocessing
from pathlib import Path

from dayshift.sqlite import open_database


def _open_and_write(path: str, start: multiprocessing.synchronize.Event, name: str) -> None:  # type: ignore[name-defined]
    start.wait()
    db = open_database(Path(path), busy_timeout_s=30)
    db.execute("CREATE TABLE IF NOT EXISTS t (name TEXT)")
    db.execute("INSERT INTO t VALUES (?)", (name,))
    db.close()


def test_processes_racing_to_create_a_database_all_succeed(tmp_path: Path) -> None:
    context = multiprocessing.get_context("spawn")
    for round_ in range(20):
        path = str(tmp_path / f"race-{round_}.sqlite")
        start = context.Event()
        workers = [context.Process(target=_open_and_write, args=(path, start, f"w{i}")) for i in range(6)]
        for worker in workers:
            worker.start()
        start.set()
        for worker in workers:
            worker.join(timeout=60)
        assert [w.exitcode for w in workers] == [0] * 6
        db = open_database(Path(path))
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert db.execute("SELECT count(*) FROM t").fetchone()[0] == 6
