"""The re-ranker interface. Off unless configured; see rerank_* modules for backends."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from dayshift.types import Hit


class Reranker(Protocol):
    def rerank(self, query: str, hits: Sequence[Hit], *, k: int) -> list[Hit]:
        """The best `k` of `hits` for `query`, re-scored, as Hit(source="rerank")."""
        ...
