"""The contract every API key store passes, through the KeyRing that the service uses.

    class TestMyKeys(KeyStoreContract):
        def open_key_store(self, place: str) -> KeyStore:
            return MyKeyStore(...)     # the same `place` reopens the same, at first empty, store

Runs `dayshift.keys.KeyRing` over the store: a created key names its tenant, only
its SHA-256 is kept, a revoked key stops working for every ring at once (the ring that
revoked it, and any ring opened after), and keys list oldest first.

Left out: the 5 s lookup cache of a ring that did not revoke (tests/service/test_access.py).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator

import pytest

from dayshift.errors import ConfigError
from dayshift.keys import KeyRing, KeyStore, Principal


class KeyStoreContract:
    def open_key_store(self, place: str) -> KeyStore:
        raise NotImplementedError

    @pytest.fixture
    def ring(self) -> Iterator[KeyRing]:
        opened = KeyRing(self.open_key_store("main"))
        yield opened
        opened.close()

    def test_a_created_key_names_its_tenant_and_only_its_hash_is_kept(self, ring: KeyRing) -> None:
        key, info = ring.create("acme")
        assert key.startswith("dsk_") and info.key_id == key[:12] and info.tenant == "acme"
        assert ring.lookup(key) == Principal(tenant="acme", key_id=info.key_id)
        assert ring.store.find(hashlib.sha256(key.encode()).hexdigest()) == (info.key_id, "acme")
        assert ring.store.find(key) is None  # the key itself is stored nowhere
        assert ring.list() == [info] and ring.active_count() == 1
        assert ring.lookup("dsk_not-a-key") is None and ring.lookup(key + "x") is None

    def test_keys_list_oldest_first_with_their_state(self, ring: KeyRing) -> None:
        made = [ring.create(tenant)[1] for tenant in ("acme", "globex", "acme")]
        assert ring.revoke(made[1].key_id)
        listed = ring.list()
        assert [k.key_id for k in listed] == [k.key_id for k in made]
        assert [k.revoked_at is not None for k in listed] == [False, True, False]
        assert listed[1].revoked_at >= listed[1].created_at  # type: ignore[operator]
        assert ring.active_count() == 2

    def test_a_revoked_key_stops_working_and_revoking_again_finds_nothing(self, ring: KeyRing) -> None:
        key, info = ring.create("acme")
        other = self.open_key_store("main")
        later = KeyRing(other)
        try:
            assert later.lookup(key) == Principal(tenant="acme", key_id=info.key_id)  # another ring sees it at once
            assert ring.revoke(info.key_id) is True
            assert ring.lookup(key) is None and KeyRing(other).lookup(key) is None
            assert ring.revoke(info.key_id) is False and ring.revoke("dsk_unknown0") is False
            assert ring.active_count() == 0 and later.active_count() == 0
        finally:
            later.close()

    def test_an_invalid_tenant_is_refused_and_nothing_is_stored(self, ring: KeyRing) -> None:
        with pytest.raises(ConfigError, match="invalid tenant name"):
            ring.create("Not A Tenant")
        assert ring.list() == [] and ring.active_count() == 0

    def test_a_reopened_store_has_every_key_and_another_place_none(self, ring: KeyRing) -> None:
        key, info = ring.create("acme")
        ring.close()
        again, other = KeyRing(self.open_key_store("main")), KeyRing(self.open_key_store("other"))
        try:
            assert again.lookup(key) == Principal(tenant="acme", key_id=info.key_id) and again.list() == [info]
            assert other.lookup(key) is None and other.list() == [] and other.active_count() == 0
        finally:
            again.close()
            other.close()
