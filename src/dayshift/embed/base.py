"""The embedder interface and the batching every backend shares.

An embedder maps texts to L2-normalised float32 vectors of one fixed vector
space. Two embedders with the same `space` produce interchangeable vectors
(for example the torch and ONNX runtimes of all-MiniLM-L6-v2), so an index
built by one can be queried by the other.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import Literal, Protocol, runtime_checkable

import numpy as np

TextKind = Literal["document", "query"]


class Tokenizer(Protocol):
    """Counts tokens the way the embedding model sees them (chunk sizing)."""

    def count(self, text: str) -> int: ...

    def token_spans(self, text: str) -> list[tuple[int, int]]:
        """Character (start, end) of each token in `text`, special tokens excluded."""
        ...


@runtime_checkable
class IdTokenizer(Tokenizer, Protocol):
    """A tokenizer that also gives its token ids, which its embedder takes as they are
    (`TokenIdEmbedder`): the chunker's tokenisation of a document then serves the embedder too."""

    def tokenise(self, text: str) -> tuple[list[int], list[tuple[int, int]]]:
        """(ids, character spans) of the tokens of `text`, special tokens excluded, not truncated."""
        ...

    def continues_word(self, token_id: int) -> bool:
        """Whether the token is the inside of a word ("##ing"): a text cut before it tokenises differently."""
        ...


class Embedder(Protocol):
    space: str  # vector-space identity, e.g. "sentence-transformers/all-MiniLM-L6-v2"
    dim: int
    tokenizer: Tokenizer

    def embed(self, texts: Sequence[str], *, kind: TextKind = "document") -> np.ndarray:
        """(len(texts), dim) float32, rows L2-normalised."""
        ...


@runtime_checkable
class TokenIdEmbedder(Embedder, Protocol):
    """An embedder whose tokenizer is an `IdTokenizer` and which takes those ids instead of texts."""

    def embed_token_ids(self, texts: Sequence[str], token_ids: Sequence[Sequence[int] | None]) -> np.ndarray:
        """As `embed(texts)` for documents, where `token_ids[i]`, if not None, is
        `tokenizer.tokenise(texts[i])[0]`: the text is not tokenised again."""
        ...


def batched(items: Sequence[str], *, batch_size: int) -> Iterator[tuple[int, Sequence[str]]]:
    """(start offset, slice) pairs of at most `batch_size` items."""
    for start in range(0, len(items), batch_size):
        yield start, items[start : start + batch_size]


def embed_by_length(
    texts: Sequence[str],
    encode: Callable[[Sequence[str]], np.ndarray],
    *,
    batch_size: int,
    dim: int,
) -> np.ndarray:
    """Encode in batches of similar length (less padding), return rows in input order."""
    out = np.empty((len(texts), dim), dtype=np.float32)
    order = sorted(range(len(texts)), key=lambda i: len(texts[i]), reverse=True)
    for start in range(0, len(order), batch_size):
        idx = order[start : start + batch_size]
        out[idx] = encode([texts[i] for i in idx])
    return out


def l2_normalise(vectors: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return (vectors / np.maximum(norms, 1e-12)).astype(np.float32, copy=False)
