"""API keys, the tenants they belong to, and a rate limit per key.

    Authorization: Bearer dsk_...   (or X-API-Key: dsk_...)  ->  Principal(tenant, key_id, admin)

Keys are created with `dayshift keys create --tenant acme`, shown once, and
stored only as SHA-256 hashes in a KeyStore (dayshift.keys): <data_dir>/keys.sqlite,
or the api_keys table in Postgres when database.url is set. The admin key comes
from settings (DAYSHIFT_SERVICE__ADMIN_KEY) and may act for any tenant (the
`X-Dayshift-Tenant` header) and read every tenant's traces. With no key at
all the server runs open on loopback only, as the default tenant.
"""

from __future__ import annotations

import hmac
import threading
import time

from dayshift.keys import KeyInfo, KeyRing, Principal
from dayshift.tenancy import DEFAULT_TENANT, check_tenant

__all__ = ["Authenticator", "KeyInfo", "KeyRing", "Principal", "RateLimiter"]


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
