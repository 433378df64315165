"""`retrieve.rerank = "registry"`: the re-ranker that the registry calls production, reloaded on promotion.

Each call reads the model's aliases.json (a small file; the page cache makes it microseconds) and,
when production points at another version than the one loaded, loads that one before scoring:
`dayshift models promote` and `rollback` take effect on the next query of a running `serve`, with no
restart. The version's card holds the blend weight chosen on validation (train_reranker/blend.py):
scores mix the cross-encoder with the first stage's fused score. Left out: loading the next model
in the background (the first query after a promotion waits for it, about a second), GPUs.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from dayshift.errors import ConfigError
from dayshift.finetune.registry.store import ModelRegistry, registry_root
from dayshift.finetune.train_reranker.blend import blend
from dayshift.retrieve.rerank_cross_encoder import CrossEncoderReranker
from dayshift.types import Hit

NAME = "reranker"


class RegistryReranker:
    def __init__(self, *, data_dir: str | Path | None = None, model_name: str = NAME, version: int | None = None,
                 **_: object) -> None:  # fmt: skip
        if data_dir is None:
            raise ConfigError('retrieve.rerank = "registry" needs the data folder; open it through dayshift.assemble')
        self.registry = ModelRegistry(registry_root(Path(data_dir)))
        self.model_name = model_name
        self.pinned = version  # a fixed version (`dayshift models compare`); None follows production
        self._lock = threading.Lock()
        self._loaded: tuple[int, CrossEncoderReranker, float, int] | None = None  # version, model, weight, max_length
        self._current()  # fail at start-up, not on the first query, when nothing is promoted

    @property
    def version(self) -> int:
        return self._current()[0]

    def _current(self) -> tuple[int, CrossEncoderReranker, float, int]:
        production = self.pinned or self.registry.aliases(self.model_name).get("production")
        if production is None:
            raise ConfigError(f"no production re-ranker in {self.registry.root}: train one with `dayshift finetune "
                              f"reranker`, then `dayshift models promote {self.model_name}@VERSION`")  # fmt: skip
        with self._lock:
            if self._loaded is None or self._loaded[0] != production:
                card = self.registry.card(self.model_name, int(production))
                max_length = int(card.params.get("max_length", 512))
                model = CrossEncoderReranker(model_path=self.registry.model_dir(self.model_name, card.version),
                                             max_length=max_length)  # fmt: skip
                self._loaded = (card.version, model, float(card.params.get("blend_weight", 1.0)), max_length)
            return self._loaded

    def rerank(self, query: str, hits: Sequence[Hit], *, k: int) -> list[Hit]:
        if not hits or k <= 0:
            return []
        _, model, weight, _ = self._current()
        cross = model.scores(query, [hit.chunk.indexed_text for hit in hits])
        mixed = blend(np.array([h.score for h in hits]), cross, weight=weight)
        order = np.argsort(-mixed, kind="stable")[:k]
        return [Hit(chunk=hits[i].chunk, score=float(mixed[i]), source="rerank") for i in order]
