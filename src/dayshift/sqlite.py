"""Opening dayshift's own SQLite files the same way everywhere.

WAL journaling (readers never block the writer, nor it them), `synchronous =
NORMAL` (durable at each checkpoint, safe against corruption on a crash),
autocommit mode so every transaction is explicit, and one busy timeout.
"""

from __future__ import annotations

import random
import sqlite3
import time
from pathlib import Path


def open_database(path: Path, *, busy_timeout_s: float = 60.0) -> sqlite3.Connection:
    path.parent.mkdir(parents=True, exist_ok=True)
    db = sqlite3.connect(path, timeout=busy_timeout_s, check_same_thread=False, isolation_level=None)
    _enable_wal(db, deadline=time.monotonic() + busy_timeout_s)
    db.execute("PRAGMA synchronous = NORMAL")
    return db


def _enable_wal(db: sqlite3.Connection, *, deadline: float) -> None:
    """Switch to WAL, waiting out another process doing the same.

    Changing the journal mode takes an exclusive lock, and when two processes
    open a new file at once SQLite reports "database is locked" at once rather
    than calling the busy handler, so the wait is done here.
    """
    pause = 0.005
    while True:
        try:
            db.execute("PRAGMA journal_mode = WAL")
            return
        except sqlite3.OperationalError as error:
            if "locked" not in str(error) or time.monotonic() >= deadline:
                raise
        time.sleep(pause * (0.5 + random.random()))
        pause = min(pause * 2, 0.25)
