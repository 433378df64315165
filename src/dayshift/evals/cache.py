"""The eval cache: model completions keyed by exactly what was asked.

An eval spends nearly all its time generating. Two runs that send the same
messages with the same parameters to the same model get the same completion
(greedy decoding is deterministic; sampled decoding is keyed by its seed), so
the second is read from here. A changed prompt, excerpt, model or parameter is
a different key, which makes the cache safe to leave on: it can only skip work
whose result is already known.

    llm = CachedLLM(open_llm(settings), CompletionCache(path))
    llm.seed = 2        # repeat 2 of a sampled prompt
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Iterator, Sequence
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any

import numpy as np

from dayshift.embed.base import Embedder
from dayshift.llm.base import CancelToken, ChatRequest, Completion, TokenLogprobs, ToolCall, Usage
from dayshift.llm.client import LLMClient
from dayshift.migrations import baseline, migrate_sqlite
from dayshift.sqlite import open_database

_SCHEMA = """
CREATE TABLE IF NOT EXISTS completions (
    key TEXT PRIMARY KEY,
    completion TEXT NOT NULL,
    created_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS query_vectors (
    key TEXT PRIMARY KEY,  -- sha256 of vector space + text
    vector BLOB NOT NULL
);
"""
MIGRATIONS = baseline(_SCHEMA)  # dayshift.migrations: append, never edit


class CompletionCache:
    def __init__(self, path: Path) -> None:
        self.path = path
        self._db = open_database(path)
        migrate_sqlite(self._db, "eval_cache", MIGRATIONS, where=str(path))
        self.hits = 0
        self.misses = 0

    @staticmethod
    def key(models: list[str], request: ChatRequest) -> str:
        sampled = request.temperature > 0
        payload = {
            "models": models,
            "messages": [[m.role, m.content] for m in request.messages],
            "max_tokens": request.max_tokens, "temperature": request.temperature, "stop": list(request.stop),
            "json_schema": request.json_schema,
            # Greedy decoding ignores the seed, so every repeat of a greedy prompt shares one entry.
            "seed": request.seed if sampled else None,
        }
        return hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()

    def get(self, key: str) -> Completion | None:
        row = self._db.execute("SELECT completion FROM completions WHERE key = ?", (key,)).fetchone()
        if row is None:
            self.misses += 1
            return None
        self.hits += 1
        return completion_from_json(json.loads(row[0]))

    def put(self, key: str, completion: Completion) -> None:
        text = json.dumps(asdict(completion), default=str)
        self._db.execute(
            "INSERT OR REPLACE INTO completions (key, completion, created_at) VALUES (?, ?, ?)", (key, text, time.time())
        )

    def vectors(self, space: str, texts: Sequence[str]) -> dict[str, np.ndarray]:
        """The stored query-side vectors of those texts that have one."""
        keys = {_vector_key(space, t): t for t in texts}
        found: dict[str, np.ndarray] = {}
        listed = list(keys)
        for start in range(0, len(listed), 500):
            part = listed[start:start + 500]
            rows = self._db.execute(
                f"SELECT key, vector FROM query_vectors WHERE key IN ({','.join('?' * len(part))})", part
            ).fetchall()
            found.update({keys[k]: np.frombuffer(v, dtype=np.float32) for k, v in rows})
        return found

    def put_vectors(self, space: str, vectors: dict[str, np.ndarray]) -> None:
        rows = [(_vector_key(space, t), np.asarray(v, dtype=np.float32).tobytes()) for t, v in vectors.items()]
        self._db.execute("BEGIN")
        self._db.executemany("INSERT OR REPLACE INTO query_vectors (key, vector) VALUES (?, ?)", rows)
        self._db.execute("COMMIT")

    def __len__(self) -> int:
        return int(self._db.execute("SELECT count(*) FROM completions").fetchone()[0])

    def close(self) -> None:
        self._db.close()


def _vector_key(space: str, text: str) -> str:
    return hashlib.sha256(f"{space}\n{text}".encode()).hexdigest()


class CachedQueryEmbedder:
    """Query-side embeddings through the cache: excerpt selection embeds the same sentences for every
    question about a document, so after the first run they are read back, not computed."""

    def __init__(self, embedder: Embedder, cache: CompletionCache) -> None:
        self.embedder, self.cache = embedder, cache
        self._memory: dict[str, np.ndarray] = {}

    def __call__(self, texts: Sequence[str]) -> np.ndarray:
        texts = list(texts)
        missing = [t for t in dict.fromkeys(texts) if t not in self._memory]
        if missing:
            self._memory.update(self.cache.vectors(self.embedder.space, missing))
            missing = [t for t in missing if t not in self._memory]
        if missing:
            computed = self.embedder.embed(missing, kind="query")
            fresh = dict(zip(missing, computed, strict=True))
            self.cache.put_vectors(self.embedder.space, fresh)
            self._memory.update(fresh)
        if not texts:
            return np.empty((0, self.embedder.dim), dtype=np.float32)
        return np.stack([self._memory[t] for t in texts])


class _Replayed:
    """A cached completion, streamed as one piece."""

    def __init__(self, completion: Completion) -> None:
        self.result: Completion | None = completion

    def __iter__(self) -> Iterator[str]:
        if self.result is not None and self.result.text:
            yield self.result.text


class _Recorded:
    """A live call that stores its completion when it ends normally."""

    def __init__(self, call: Any, cache: CompletionCache, key: str) -> None:
        self._call, self._cache, self._key = call, cache, key
        self.result: Completion | None = None

    def __iter__(self) -> Iterator[str]:
        yield from self._call
        self.result = self._call.result
        if self.result is not None and self.result.finish_reason != "cancelled":
            self._cache.put(self._key, self.result)


class CachedLLM:
    """An LLMClient that answers from the cache when it can. It keeps the client's chain."""

    def __init__(self, inner: LLMClient, cache: CompletionCache) -> None:
        self.inner = inner
        self.cache = cache
        self.chain = inner.chain
        self.seed: int | None = None  # stamped on each request: the repeat number of a sampled prompt
        self.last_cached = False

    def stream(self, request: ChatRequest, *, cancel: CancelToken | None = None, tenant: str | None = None) -> Any:
        if self.seed is not None:
            request = replace(request, seed=self.seed)
        key = CompletionCache.key([backend.model for backend in self.chain], request)
        cached = self.cache.get(key)
        self.last_cached = cached is not None
        if cached is not None:
            return _Replayed(cached)
        return _Recorded(self.inner.stream(request, cancel=cancel, tenant=tenant), self.cache, key)


def completion_from_json(data: dict[str, Any]) -> Completion:
    """A Completion back from `asdict` JSON, nested values included: a replayed answer keeps the log-probabilities
    its evidence (reader_sure, reader_prob, the self-check) is computed from, and its tool calls."""
    logprobs = data.get("logprobs")
    if logprobs is not None:
        logprobs = TokenLogprobs(chosen=tuple(logprobs.get("chosen", ())),
                                 first=tuple((str(t), float(lp)) for t, lp in logprobs.get("first", ())),
                                 suppressed_p=logprobs.get("suppressed_p"))
    calls = tuple(ToolCall(**call) for call in data.get("tool_calls", ()))
    return Completion(**{**data, "usage": Usage(**data["usage"]), "logprobs": logprobs, "tool_calls": calls})
