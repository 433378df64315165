"""Fine-tuned models kept as numbered versions, each with a model card, under data_dir/models/.

    models/<name>/<version>/model/      the weights, as the trainer saved them
    models/<name>/<version>/card.json   base model, data hash, metrics, parent, tracker run id, ...
    models/<name>/aliases.json          {"production": 3, "candidate": 4, "history": [2, 3]}

A new version becomes the `candidate`. `promote NAME@V` makes V `production` and pushes the old
production onto the history; `rollback NAME` pops it back. aliases.json is replaced atomically
(write, then rename), so a reader -- the service re-ranking a query -- sees the old or the new
aliases, never half of each; readers notice the change by the file's content, with no restart.
Left out: remote registries (MLflow's model registry, W&B artifacts), access control, deleting
versions, and more than one writer promoting at the same instant (last rename wins).
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from dayshift.errors import ConfigError

ALIASES = ("production", "candidate")
KINDS = ("reranker", "embedder", "reader")


@dataclass(slots=True)
class ModelCard:
    name: str
    version: int
    kind: str  # reranker | embedder | reader
    base_model: str
    data_hash: str
    metrics: dict[str, Any] = field(default_factory=dict)
    parent: str | None = None  # "name@version" this one was trained from, or None for the base model
    tracker_run_id: str = ""
    created_at: str = field(default_factory=lambda: datetime.now(UTC).isoformat(timespec="seconds"))
    params: dict[str, Any] = field(default_factory=dict)  # e.g. the re-ranker's blend weight and k
    run_dir: str = ""  # the training run's folder: run.json, loss.png
    notes: list[str] = field(default_factory=list)  # e.g. the overfitting verdict, a leakage warning

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def registry_root(data_dir: Path) -> Path:
    return Path(data_dir) / "models"


def parse_ref(ref: str) -> tuple[str, str | None]:
    """"reranker@3" -> ("reranker", "3"); "reranker@production" -> ("reranker", "production"); "reranker" -> (.., None)."""
    name, _, version = ref.partition("@")
    if not name:
        raise ConfigError(f"{ref!r} is not a model reference: write NAME, NAME@VERSION or NAME@production")
    return name, version or None


class ModelRegistry:
    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    def names(self) -> list[str]:
        return sorted(p.name for p in self.root.iterdir() if (p / "aliases.json").is_file()) if self.root.is_dir() else []

    def versions(self, name: str) -> list[int]:
        folder = self.root / name
        return sorted(int(p.name) for p in folder.iterdir() if p.name.isdigit()) if folder.is_dir() else []

    def aliases(self, name: str) -> dict[str, Any]:
        path = self.root / name / "aliases.json"
        if not path.is_file():
            return {"production": None, "candidate": None, "history": []}
        return json.loads(path.read_text(encoding="utf-8"))

    def card(self, name: str, version: int) -> ModelCard:
        path = self.root / name / str(version) / "card.json"
        if not path.is_file():
            known = ", ".join(map(str, self.versions(name))) or "none"
            raise ConfigError(f"no version {version} of model {name!r} (versions: {known}); see `dayshift models list`")
        return ModelCard(**json.loads(path.read_text(encoding="utf-8")))

    def model_dir(self, name: str, version: int) -> Path:
        return self.root / name / str(version) / "model"

    def resolve(self, ref: str) -> ModelCard:
        """A card from "name", "name@3", "name@production" or "name@candidate" (bare name: production)."""
        name, version = parse_ref(ref)
        version = version or "production"
        if version in ALIASES:
            number = self.aliases(name).get(version)
            if number is None:
                raise ConfigError(f"model {name!r} has no {version} version: train one with `dayshift finetune`, "
                                  f"then `dayshift models promote {name}@VERSION`")  # fmt: skip
            return self.card(name, int(number))
        if not version.isdigit():
            raise ConfigError(f"{ref!r}: a version is a number, 'production' or 'candidate'")
        return self.card(name, int(version))

    def register(self, *, name: str, kind: str, model_dir: Path, base_model: str, data_hash: str,
                 metrics: dict[str, Any] | None = None, parent: str | None = None, tracker_run_id: str = "",
                 params: dict[str, Any] | None = None, run_dir: str = "", notes: list[str] | None = None,
                 ) -> ModelCard:  # fmt: skip
        """Copy `model_dir` in as the next version of `name` and make it the candidate."""
        if kind not in KINDS:
            raise ConfigError(f"unknown model kind {kind!r}: use one of {', '.join(KINDS)}")
        if not Path(model_dir).is_dir():
            raise ConfigError(f"{model_dir}: no model folder to register")
        version = max(self.versions(name), default=0) + 1
        target = self.root / name / str(version)
        shutil.copytree(model_dir, target / "model")
        card = ModelCard(name=name, version=version, kind=kind, base_model=base_model, data_hash=data_hash,
                         metrics=metrics or {}, parent=parent, tracker_run_id=tracker_run_id, params=params or {},
                         run_dir=run_dir, notes=notes or [])  # fmt: skip
        _write_json(target / "card.json", card.to_json())
        aliases = self.aliases(name)
        aliases["candidate"] = version
        _write_json(self.root / name / "aliases.json", aliases)
        return card

    def update_card(self, card: ModelCard) -> None:
        _write_json(self.root / card.name / str(card.version) / "card.json", card.to_json())

    def promote(self, ref: str) -> ModelCard:
        """Make `name@version` production; the previous production goes onto the history for rollback."""
        card = self.resolve(ref)
        aliases = self.aliases(card.name)
        if aliases.get("production") == card.version:
            return card
        if aliases.get("production") is not None:
            aliases.setdefault("history", []).append(aliases["production"])
        aliases["production"] = card.version
        if aliases.get("candidate") == card.version:
            aliases["candidate"] = None
        _write_json(self.root / card.name / "aliases.json", aliases)
        return card

    def rollback(self, name: str) -> ModelCard | None:
        """Production back to the version before it; None when there was none (production is then unset)."""
        aliases = self.aliases(name)
        if aliases.get("production") is None:
            raise ConfigError(f"model {name!r} has no production version to roll back")
        history = aliases.setdefault("history", [])
        aliases["production"] = history.pop() if history else None
        _write_json(self.root / name / "aliases.json", aliases)
        return None if aliases["production"] is None else self.card(name, aliases["production"])


def _write_json(path: Path, data: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        json.dump(data, handle, indent=2)
    os.replace(tmp, path)
