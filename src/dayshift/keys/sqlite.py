"""API keys in SQLite: <data_dir>/keys.sqlite, the default KeyStore.

Only hashes are stored (dayshift.keys.base.KeyRing makes and hashes the keys). The table is under
dayshift.migrations, so a data folder of an older release opens unchanged.
"""

from __future__ import annotations

from pathlib import Path

from dayshift.keys.base import KeyInfo
from dayshift.migrations import baseline, migrate_sqlite
from dayshift.sqlite import open_database

KEYS_FILE = "keys.sqlite"  # in Settings.data_dir
SCHEMA = """
CREATE TABLE IF NOT EXISTS api_keys (
    key_id TEXT PRIMARY KEY,        -- the first characters of the key, safe to show and log
    key_hash TEXT NOT NULL UNIQUE,  -- sha256 of the whole key
    tenant TEXT NOT NULL,
    created_at TEXT NOT NULL,
    revoked_at TEXT
);
"""
MIGRATIONS = baseline(SCHEMA)  # dayshift.migrations: append, never edit


class SqliteKeyStore:
    """`KeyStore` in one SQLite file."""

    def __init__(self, path: Path) -> None:
        self.where = str(path)
        self._db = open_database(path)
        migrate_sqlite(self._db, "keys", MIGRATIONS, where=str(path))

    def add(self, info: KeyInfo, *, key_hash: str) -> None:
        self._db.execute(
            "INSERT INTO api_keys (key_id, key_hash, tenant, created_at) VALUES (?, ?, ?, ?)",
            (info.key_id, key_hash, info.tenant, info.created_at),
        )

    def find(self, key_hash: str) -> tuple[str, str] | None:
        row = self._db.execute(
            "SELECT key_id, tenant FROM api_keys WHERE key_hash = ? AND revoked_at IS NULL", (key_hash,)
        ).fetchone()
        return (row[0], row[1]) if row else None

    def revoke(self, key_id: str, *, at: str) -> bool:
        cur = self._db.execute(
            "UPDATE api_keys SET revoked_at = ? WHERE key_id = ? AND revoked_at IS NULL", (at, key_id)
        )
        return cur.rowcount > 0

    def list(self) -> list[KeyInfo]:
        rows = self._db.execute("SELECT key_id, tenant, created_at, revoked_at FROM api_keys ORDER BY created_at")
        return [KeyInfo(*row) for row in rows]

    def active_count(self) -> int:
        return int(self._db.execute("SELECT count(*) FROM api_keys WHERE revoked_at IS NULL").fetchone()[0])

    def close(self) -> None:
        self._db.close()
