"""API keys: what is stored of one (KeyInfo), where it is kept (KeyStore), and the KeyRing over a store.

    KeyRing.create(tenant)  -> ("dsk_..." shown once, KeyInfo)   only the SHA-256 is stored
    KeyRing.lookup(key)     -> Principal(tenant, key_id) | None   cached in memory for 5 s
    KeyStore                add, find (by SHA-256), revoke, list, active_count, close
                            keys.sqlite: SqliteKeyStore (<data_dir>/keys.sqlite, the default)
                            keys.postgres: PostgresKeyStore (the api_keys table, when database.url is set)

Making, hashing and caching keys is the KeyRing's work, so both stores hold exactly the same rows;
`dayshift.assemble.open_key_ring` chooses the store, and both pass
`dayshift.testing.key_store_contract`. The service's authentication (the admin key, the open
loopback mode, the rate limit) sits above this, in `dayshift.service.auth`.

Left out: key scopes and expiry, rotation with overlap, and hashing slower than SHA-256 (keys are
192 random bits, so a fast hash is not guessable).
"""

from __future__ import annotations

import hashlib
import secrets
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Protocol

from dayshift.tenancy import check_tenant

API_KEY_PREFIX = "dsk_"  # a dayshift API key: this prefix and 32 URL-safe characters (192 random bits)


def new_api_key() -> str:
    return API_KEY_PREFIX + secrets.token_urlsafe(24)


@dataclass(frozen=True, slots=True)
class KeyInfo:
    key_id: str
    tenant: str
    created_at: str  # ISO 8601, UTC
    revoked_at: str | None


class KeyStore(Protocol):
    def add(self, info: KeyInfo, *, key_hash: str) -> None: ...

    def find(self, key_hash: str) -> tuple[str, str] | None:
        """(key_id, tenant) of the active key with this hash, or None."""
        ...

    def revoke(self, key_id: str, *, at: str) -> bool:
        """Mark an active key revoked; False when there is no active key of that id."""
        ...

    def list(self) -> list[KeyInfo]:
        """Every key, oldest first."""
        ...

    def active_count(self) -> int: ...

    def close(self) -> None: ...


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
        if isinstance(keys, Path):
            from dayshift.keys.sqlite import SqliteKeyStore

            keys = SqliteKeyStore(keys)
        self.store: KeyStore = keys
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
