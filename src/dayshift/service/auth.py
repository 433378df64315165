"""API keys, the tenants they belong to, and a rate limit per key.

    Authorization: Bearer dsk_...   (or X-API-Key: dsk_...)  ->  Principal(tenant, key_id, admin)

Keys are created with `dayshift keys create --tenant acme`, shown once, and
stored only as SHA-256 hashes in <data_dir>/keys.sqlite. The admin key comes
from settings (DAYSHIFT_SERVICE__ADMIN_KEY) and may act for any tenant (the
`X-Dayshift-Tenant` header) and read every tenant's traces. With no key at
all the server runs open on loopback only, as the default tenant.
"""

from __future__ import annotations

import hashlib
import hmac
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from dayshift.service.logs import new_api_key
from dayshift.sqlite import open_database
from dayshift.tenancy import DEFAULT_TENANT, check_tenant

_SCHEMA = """
CREATE TABLE IF NOT EXISTS api_keys (
    key_id TEXT PRIMARY KEY,        -- the first characters of the key, safe to show and log
    key_hash TEXT NOT NULL UNIQUE,  -- sha256 of the whole key
    tenant TEXT NOT NULL,
    created_at TEXT NOT NULL,
    revoked_at TEXT
);
"""


@dataclass(frozen=True, slots=True)
class Principal:
    tenant: str
    key_id: str  # "admin", "open", or the stored key's id
    admin: bool = False


@dataclass(frozen=True, slots=True)
class KeyInfo:
    key_id: str
    tenant: str
    created_at: str
    revoked_at: str | None


def _hash(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


class KeyRing:
    """Tenant keys, hashed, in one SQLite file; lookups are cached in memory."""

    def __init__(self, path: Path) -> None:
        self._db = open_database(path)
        self._db.executescript(_SCHEMA)
        self._lock = threading.Lock()
        self._cache: dict[str, Principal | None] = {}
        self._cache_at = 0.0

    def create(self, tenant: str) -> tuple[str, KeyInfo]:
        """A new key for `tenant`: (the key itself, shown once; what is stored of it)."""
        check_tenant(tenant)
        key = new_api_key()
        info = KeyInfo(key_id=key[:12], tenant=tenant, created_at=datetime.now(UTC).isoformat(), revoked_at=None)
        with self._lock:
            self._db.execute(
                "INSERT INTO api_keys (key_id, key_hash, tenant, created_at) VALUES (?, ?, ?, ?)",
                (info.key_id, _hash(key), tenant, info.created_at),
            )
            self._cache.clear()
        return key, info

    def revoke(self, key_id: str) -> bool:
        with self._lock:
            cur = self._db.execute(
                "UPDATE api_keys SET revoked_at = ? WHERE key_id = ? AND revoked_at IS NULL",
                (datetime.now(UTC).isoformat(), key_id),
            )
            self._cache.clear()
        return cur.rowcount > 0

    def list(self) -> list[KeyInfo]:
        rows = self._db.execute("SELECT key_id, tenant, created_at, revoked_at FROM api_keys ORDER BY created_at")
        return [KeyInfo(*row) for row in rows]

    def active_count(self) -> int:
        return int(self._db.execute("SELECT count(*) FROM api_keys WHERE revoked_at IS NULL").fetchone()[0])

    def lookup(self, key: str) -> Principal | None:
        """The tenant of an active key, or None. Revocations made by another process show within 5 s."""
        digest = _hash(key)
        with self._lock:
            if time.monotonic() - self._cache_at > 5.0:
                self._cache.clear()
                self._cache_at = time.monotonic()
            if digest in self._cache:
                return self._cache[digest]
            row = self._db.execute(
                "SELECT key_id, tenant FROM api_keys WHERE key_hash = ? AND revoked_at IS NULL", (digest,)
            ).fetchone()
            found = Principal(tenant=row[1], key_id=row[0]) if row else None
            if len(self._cache) < 10_000:
                self._cache[digest] = found
            return found

    def close(self) -> None:
        self._db.close()


class Authenticator:
    def __init__(self, keys: KeyRing, *, admin_key: str | None) -> None:
        self.keys = keys
        self._admin_key = admin_key

    @property
    def open(self) -> bool:
        """No key exists: every request is the default tenant (loopback servers only)."""
        return self._admin_key is None and self.keys.active_count() == 0

    def principal(self, key: str | None, *, acting_for: str | None = None) -> Principal | None:
        """Who a request is, or None when its key is missing or unknown."""
        if key is None:
            return Principal(tenant=DEFAULT_TENANT, key_id="open", admin=False) if self.open else None
        if self._admin_key is not None and hmac.compare_digest(key.encode(), self._admin_key.encode()):
            return Principal(tenant=check_tenant(acting_for or DEFAULT_TENANT), key_id="admin", admin=True)
        return self.keys.lookup(key)


class RateLimiter:
    """A token bucket per key: `burst` requests at once, refilled at `per_minute`."""

    def __init__(self, *, per_minute: int, burst: int) -> None:
        self.rate = per_minute / 60.0
        self.burst = float(burst)
        self._buckets: dict[str, tuple[float, float]] = {}  # key id -> (tokens, last refill)
        self._lock = threading.Lock()

    def take(self, key_id: str) -> float:
        """0.0 when the request may go ahead, else the seconds to wait before retrying."""
        now = time.monotonic()
        with self._lock:
            tokens, last = self._buckets.get(key_id, (self.burst, now))
            tokens = min(self.burst, tokens + (now - last) * self.rate)
            if tokens >= 1.0:
                self._buckets[key_id] = (tokens - 1.0, now)
                return 0.0
            self._buckets[key_id] = (tokens, now)
            return (1.0 - tokens) / self.rate
