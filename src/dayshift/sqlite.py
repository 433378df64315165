"""Opening dayshift's own SQLite files the same way everywhere.

WAL journaling (readers never block the writer, nor it them), `synchronous =
NORMAL` (durable at each checkpoint, safe against corruption on a crash),
autocommit mode so every transaction is explicit, and one busy timeout.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path


def open_database(path: Path, *, busy_timeout_s: float = 60.0) -> sqlite3.Connection:
    path.parent.mkdir(parents=True, exist_ok=True)
    db = sqlite3.connect(path, timeout=busy_timeout_s, check_same_thread=False, isolation_level=None)
    db.execute("PRAGMA journal_mode = WAL")
    db.execute("PRAGMA synchronous = NORMAL")
    return db
