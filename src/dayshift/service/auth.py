"""API keys, the tenants they belong to, and a rate limit per key.

    Authorization: Bearer dsk_...   (or X-API-Key: dsk_...)  ->  Principal(tenant, key_id, admin)

Keys are created with `dayshift keys create --tenant acme`, shown once, and
stored only as SHA-256 hashes in a KeyStore (service.keys): <data_dir>/keys.sqlite,
or the api_keys table in Postgres when database.url is set. The admin key comes
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

from dayshift.service.keys import KeyInfo, KeyStore, SqliteKeyStore
from dayshift.service.logs import new_api_key
from dayshift.tenancy import DEFAULT_TENANT, check_tenant

__all__ = ["Authenticator", "KeyInfo", "KeyRing", "Principal", "RateLimiter"]


@dataclass(frozen=True, slots=True)
class Principal:
    tenant: str
    key_id: str  # "admin", "open", or the stored key's id
    admin: bool = False


def _hash(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


class KeyRing:
    """Tenant keys, hashed, in a KeyStore (a path: the SQLite file there); lookups are cached in memory."""

    def __init__(self, keys: KeyStore | Path) -> None:
        self.store: KeyStore = SqliteKeyStore(keys) if isinstance(keys, Path) else keys
        self._lock = threading.Lock()
        self._cache: dict[str, Principal | None] = {}
        self._cache_at = 0.0

    def create(self, tenant: str) -> tuple[str, KeyInfo]:
        """A new key for `tenant`: (the key itself, shown once; what is stored of it)."""
        check_tenant(tenant)
        key = new_api_key()
        info = KeyInfo(key_id=key[:12], tenant=tenant, created_at=datetime.now(UTC).isoformat(), revoked_at=None)
        with self._lock:
            self.store.add(info, key_hash=_hash(key))
            self._cache.clear()
        return key, info

    def revoke(self, key_id: str) -> bool:
        with self._lock:
            found = self.store.revoke(key_id, at=datetime.now(UTC).isoformat())
            self._cache.clear()
        return found

    def list(self) -> list[KeyInfo]:
        return self.store.list()

    def active_count(self) -> int:
        return self.store.active_count()

    def lookup(self, key: str) -> Principal | None:
        """The tenant of an active key, or None. Revocations made by another process show within 5 s."""
        digest = _hash(key)
        with self._lock:
            if time.monotonic() - self._cache_at > 5.0:
                self._cache.clear()
                self._cache_at = time.monotonic()
            if digest in self._cache:
                return self._cache[digest]
            row = self.store.find(digest)
            found = Principal(tenant=row[1], key_id=row[0]) if row else None
            if len(self._cache) < 10_000:
                self._cache[digest] = found
            return found

    def close(self) -> None:
        self.store.close()


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
