"""MemoryStore, the test fake, passes the same store contract as every real backend."""

from __future__ import annotations

from pathlib import Path

import pytest

pytest.register_assert_rewrite("dayshift.testing.store_contract")

from dayshift.testing.memory_store import MemoryStore  # noqa: E402
from dayshift.testing.store_contract import StoreContract  # noqa: E402


class TestMemoryStore(StoreContract):
    def make_store(self, tmp_path: Path, *, space: str, dim: int) -> MemoryStore:
        return MemoryStore(space=space, dim=dim)
