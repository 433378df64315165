"""One training example per query: the query, a passage that answers it, passages that do not.

    {"query": "...", "positive": "...", "positive_id": "doc#2", "negatives": ["..."],
     "negative_ids": ["doc#9"], "source": "synthetic", "origin": {...}}

The same file trains the re-ranker (pairs: positive 1, negatives 0) and the embedder (triplets).
`data_hash` is the sha256 of the canonical lines, so a run records exactly what it learnt from.
Left out: graded relevance (a positive is a positive), and examples with no positive.
"""

from __future__ import annotations

import hashlib
import json
import random
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from dayshift.errors import ConfigError

SOURCES = ("synthetic", "eval", "trace", "qrels")


@dataclass(frozen=True, slots=True)
class TrainingExample:
    query: str
    positive: str
    positive_id: str
    negatives: tuple[str, ...] = ()
    negative_ids: tuple[str, ...] = ()
    source: str = "synthetic"
    origin: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        out = asdict(self)
        out["negatives"], out["negative_ids"] = list(self.negatives), list(self.negative_ids)
        return out

    @classmethod
    def from_json(cls, data: Any, *, where: str) -> TrainingExample:
        if not isinstance(data, dict):
            raise ConfigError(f"{where}: an example must be a JSON object, got {type(data).__name__}")
        for name in ("query", "positive"):
            if not isinstance(data.get(name), str) or not data[name].strip():
                raise ConfigError(f"{where}: field {name!r} must be a non-empty string; "
                                  "write it, or drop the line")  # fmt: skip
        negatives = data.get("negatives", [])
        if not isinstance(negatives, list) or not all(isinstance(n, str) for n in negatives):
            raise ConfigError(f"{where}: field 'negatives' must be a list of strings")
        source = data.get("source", "synthetic")
        if source not in SOURCES:
            raise ConfigError(f"{where}: field 'source' is {source!r}; use one of {', '.join(SOURCES)}")
        return cls(
            query=data["query"], positive=data["positive"], positive_id=str(data.get("positive_id", "")),
            negatives=tuple(negatives), negative_ids=tuple(map(str, data.get("negative_ids", []))),
            source=source, origin=dict(data.get("origin") or {}),
        )


def write_examples(path: Path, examples: Iterable[TrainingExample]) -> int:
    path.parent.mkdir(parents=True, exist_ok=True)
    n = 0
    with path.open("w", encoding="utf-8") as handle:
        for example in examples:
            handle.write(json.dumps(example.to_json(), ensure_ascii=False, sort_keys=True) + "\n")
            n += 1
    return n


def read_examples(path: Path) -> list[TrainingExample]:
    """Every example of a JSONL file; a bad line raises ConfigError naming file:line and the field."""
    if not path.is_file():
        raise ConfigError(f"{path}: no such file; make one with `dayshift finetune data --out {path}`")
    out = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            data = json.loads(line)
        except json.JSONDecodeError as exc:
            raise ConfigError(f"{path}:{number}: not JSON ({exc.msg}); one JSON object per line") from exc
        out.append(TrainingExample.from_json(data, where=f"{path}:{number}"))
    if not out:
        raise ConfigError(f"{path}: holds no examples; make some with `dayshift finetune data`")
    return out


def data_hash(examples: Sequence[TrainingExample]) -> str:
    """sha256 of the examples' canonical JSON lines, in order: the run's data identity."""
    digest = hashlib.sha256()
    for example in examples:
        digest.update(json.dumps(example.to_json(), ensure_ascii=False, sort_keys=True).encode())
        digest.update(b"\n")
    return digest.hexdigest()


def split_examples(
    examples: Sequence[TrainingExample], *, validation_share: float, seed: int
) -> tuple[list[TrainingExample], list[TrainingExample]]:
    """(train, validation), split by query so no query is on both sides; reproducible from `seed`."""
    if not 0.0 < validation_share < 1.0:
        raise ConfigError(f"validation_share must be between 0 and 1, got {validation_share}")
    queries = sorted({e.query for e in examples})
    random.Random(seed).shuffle(queries)
    held = set(queries[: max(1, round(len(queries) * validation_share))])
    if len(held) == len(queries):
        raise ConfigError(f"{len(queries)} distinct queries cannot be split into training and validation; "
                          "make more examples")  # fmt: skip
    return [e for e in examples if e.query not in held], [e for e in examples if e.query in held]
