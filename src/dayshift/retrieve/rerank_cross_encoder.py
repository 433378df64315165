"""Re-ranking by a local cross-encoder, loaded with sentence-transformers.

A cross-encoder reads query and chunk together and scores the pair, which
ranks better than comparing two independent embeddings but costs one model
call per candidate: rerank tens of hits, not thousands.

The model is a local folder (config.json, weights, tokenizer), never a hub
name: nothing is downloaded. Left out: GPU placement choices (sentence-
transformers picks the device), score calibration across models, and training.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from dayshift.errors import ConfigError, PluginError
from dayshift.types import Hit

SETTING = "DAYSHIFT_RETRIEVE__RERANK_MODEL"


class CrossEncoderReranker:
    """Reranker scoring (query, chunk text) pairs with a local cross-encoder."""

    def __init__(self, *, model_path: str | Path, batch_size: int = 32, max_length: int = 512, **_: object) -> None:
        if batch_size < 1 or max_length < 1:
            raise ConfigError(
                f"batch_size and max_length must be positive (got {batch_size}, {max_length}): "
                "fix DAYSHIFT_RETRIEVE__RERANK_BATCH_SIZE / DAYSHIFT_RETRIEVE__RERANK_MAX_LENGTH"
            )
        self.model_path = Path(model_path).expanduser()
        self.batch_size = batch_size
        self._model = _load(self.model_path, max_length=max_length)

    def rerank(self, query: str, hits: Sequence[Hit], *, k: int) -> list[Hit]:
        """The best `k` of `hits` by cross-encoder score, as Hit(source="rerank")."""
        if not hits or k <= 0:
            return []
        scores = self.scores(query, [hit.chunk.text for hit in hits])
        order = np.argsort(-scores, kind="stable")[:k]  # ties keep the incoming order
        return [Hit(chunk=hits[i].chunk, score=float(scores[i]), source="rerank") for i in order]

    def scores(self, query: str, texts: Sequence[str]) -> np.ndarray:
        """(len(texts),) float32 relevance of each text to `query`; higher is better."""
        pairs = [(query, text) for text in texts]
        raw = self._model.predict(pairs, batch_size=self.batch_size, show_progress_bar=False, convert_to_numpy=True)
        return np.asarray(raw, dtype=np.float32).reshape(len(texts))


def _load(path: Path, *, max_length: int) -> Any:
    if not path.is_dir():
        raise ConfigError(
            f"no cross-encoder model folder at {path}: set {SETTING} to a local folder holding one "
            "(config.json, weights and tokenizer files; hub names are not downloaded)"
        )
    try:
        from sentence_transformers import CrossEncoder
        from transformers.utils import logging as hf_logging
    except ImportError as exc:
        raise PluginError(
            f'the cross-encoder reranker needs sentence-transformers ({exc.name} is missing): '
            'pip install "dayshift[rerank]"'
        ) from exc
    hf_logging.disable_progress_bar()
    try:
        return CrossEncoder(str(path), max_length=max_length, local_files_only=True)
    except (OSError, ValueError) as exc:
        raise ConfigError(
            f"{path} is not a loadable cross-encoder ({type(exc).__name__}: {str(exc)[:200]}): set {SETTING} "
            "to a folder saved by sentence-transformers or transformers with a sequence-classification head"
        ) from exc
