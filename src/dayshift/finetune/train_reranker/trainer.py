"""Train a cross-encoder re-ranker: (query, passage) -> relevance, from the bundled MiniLM weights.

The bundled all-MiniLM-L6-v2 encoder gets a fresh one-logit head (sentence-transformers'
CrossEncoder over transformers' BertForSequenceClassification) and is trained with binary
cross-entropy on pairs: each example's positive is 1, each of its negatives 0. Every
`eval_every` steps the validation pairs are scored; early stopping keeps the best weights and
restores them; the overfitting alarm reads the two curves (tracking/curves.py). The saved folder
loads in dayshift.retrieve.rerank_cross_encoder (and in any sentence-transformers CrossEncoder).

Reproducible from `seed` on the same machine and thread count (the head's initial weights, the
pair order, dropout). Left out: GPUs and mixed precision (runs are sized for two CPU cores),
listwise losses, gradient accumulation, distillation from a larger cross-encoder.
"""

from __future__ import annotations

import json
import random
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Self

from dayshift.errors import ConfigError, PluginError
from dayshift.finetune.data.examples import TrainingExample, data_hash
from dayshift.finetune.tracking import (
    EarlyStopping,
    LossHistory,
    OverfitVerdict,
    Tracker,
    detect_overfitting,
    plot_curves,
)


@dataclass(slots=True)
class RerankerConfig:
    base_model: str | None = None  # a local folder; None: the bundled all-MiniLM-L6-v2
    epochs: int = 1
    batch_size: int = 16
    learning_rate: float = 3e-5
    max_length: int = 160  # query + passage tokens; SciFact abstracts are longer, their start carries most
    negatives_per_query: int = 3
    eval_every: int = 25  # steps between validation passes
    max_validation_pairs: int = 400
    patience: int = 4  # validation passes without a new best before stopping
    max_minutes: float | None = None
    seed: int = 13
    threads: int = 2


@dataclass(slots=True)
class TrainingRun:
    model_dir: Path
    run_dir: Path
    base_model: str
    data_hash: str
    train_pairs: int
    validation_pairs: int
    steps: int
    minutes: float
    best_step: int | None
    best_validation_loss: float | None
    stop_reason: str  # "epochs", "early stopping", "time budget"
    overfit: OverfitVerdict
    curve_png: Path
    tracker_run_id: str
    history: LossHistory = field(default_factory=LossHistory)
    config: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {
            "model_dir": str(self.model_dir), "run_dir": str(self.run_dir), "base_model": self.base_model,
            "data_hash": self.data_hash, "train_pairs": self.train_pairs, "validation_pairs": self.validation_pairs,
            "steps": self.steps, "minutes": round(self.minutes, 2), "best_step": self.best_step,
            "best_validation_loss": self.best_validation_loss, "stop_reason": self.stop_reason,
            "overfit": {"flagged": self.overfit.flagged, "reason": self.overfit.reason},
            "curve_png": str(self.curve_png), "tracker_run_id": self.tracker_run_id,
            "history": self.history.to_json(), "config": self.config,
        }


def bundled_minilm() -> str:
    from dayshift.embed.local import _model_dir

    return str(_model_dir())


def pairs_of(examples: list[TrainingExample], *, negatives: int) -> list[tuple[str, str, float]]:
    """(query, passage, label) for each example: its positive, then up to `negatives` of its negatives."""
    out = []
    for e in examples:
        out.append((e.query, e.positive, 1.0))
        out.extend((e.query, text, 0.0) for text in e.negatives[:negatives])
    return out


def train_reranker(
    train: list[TrainingExample], validation: list[TrainingExample], *, config: RerankerConfig, run_dir: Path,
    tracker: Tracker, progress: bool = True,
) -> TrainingRun:
    """Train, stop early on validation loss, restore the best weights, save to run_dir/model."""
    torch, cross_encoder = _imports()
    if not train or not validation:
        raise ConfigError(f"training needs examples on both sides ({len(train)} train, {len(validation)} validation)")
    _seed(torch, config.seed)
    torch.set_num_threads(config.threads)
    base = config.base_model or bundled_minilm()
    model = cross_encoder(base, num_labels=1, max_length=config.max_length, local_files_only=True)
    train_pairs = pairs_of(train, negatives=config.negatives_per_query)
    val_pairs = pairs_of(validation, negatives=config.negatives_per_query)
    random.Random(config.seed).shuffle(val_pairs)
    val_pairs = val_pairs[: config.max_validation_pairs]
    history, stopper = LossHistory(), EarlyStopping(patience=config.patience)
    net = model.model
    optimizer = torch.optim.AdamW(net.parameters(), lr=config.learning_rate, weight_decay=0.01)
    loss_fn = torch.nn.BCEWithLogitsLoss()
    started, step, stop_reason = time.monotonic(), 0, "epochs"
    batches_per_epoch = -(-len(train_pairs) // config.batch_size)
    total = batches_per_epoch * config.epochs
    with _bar(progress, total) as bar:
        for epoch in range(config.epochs):
            order = list(train_pairs)
            random.Random(config.seed + epoch).shuffle(order)
            for start in range(0, len(order), config.batch_size):
                net.train()
                batch = order[start: start + config.batch_size]
                logits = _logits(model, batch, max_length=config.max_length)
                loss = loss_fn(logits, torch.tensor([label for *_, label in batch]))
                loss.backward()
                torch.nn.utils.clip_grad_norm_(net.parameters(), 1.0)
                optimizer.step()
                optimizer.zero_grad()
                step += 1
                value = loss.item()
                history.train.append((step, value))
                tracker.log_metrics({"train_loss": value}, step=step)
                bar.advance(f"epoch {epoch + 1}/{config.epochs} loss {value:.3f}")
                if step % config.eval_every == 0 or step == total:
                    val_loss = validation_loss(model, val_pairs, torch=torch, batch_size=32, max_length=config.max_length)
                    history.validation.append((step, val_loss))
                    tracker.log_metrics({"validation_loss": val_loss}, step=step)
                    if stopper.update(step, val_loss, net):
                        stop_reason = "early stopping"
                        break
                if config.max_minutes is not None and (time.monotonic() - started) / 60.0 >= config.max_minutes:
                    stop_reason = "time budget"
                    break
            if stop_reason != "epochs":
                break
            tracker.log_metrics({"epoch_validation_loss": history.validation[-1][1]} if history.validation else {},
                                step=step)  # fmt: skip
    if not history.validation or history.validation[-1][0] != step:  # a budget stop between two passes
        val_loss = validation_loss(model, val_pairs, torch=torch, batch_size=32, max_length=config.max_length)
        history.validation.append((step, val_loss))
        stopper.update(step, val_loss, net)
    stopper.restore(net)
    minutes = (time.monotonic() - started) / 60.0
    verdict = detect_overfitting(history)
    model_dir = run_dir / "model"
    model.save(str(model_dir))
    png = plot_curves(history, run_dir / "loss.png", title=f"re-ranker {run_dir.name}", best_step=stopper.best_step,
                      overfit=verdict)  # fmt: skip
    tracker.log_metrics({"best_validation_loss": stopper.best_loss, "minutes": minutes,
                         "overfit_flagged": float(verdict.flagged)}, step=step)  # fmt: skip
    tracker.log_artifact(png)
    run = TrainingRun(
        model_dir=model_dir, run_dir=run_dir, base_model=base, data_hash=data_hash([*train, *validation]),
        train_pairs=len(train_pairs), validation_pairs=len(val_pairs), steps=step, minutes=minutes,
        best_step=stopper.best_step, best_validation_loss=None if stopper.best_step is None else stopper.best_loss,
        stop_reason=stop_reason, overfit=verdict, curve_png=png, tracker_run_id=tracker.run_id, history=history,
        config=asdict(config),
    )
    (run_dir / "run.json").write_text(json.dumps(run.to_json(), indent=2), encoding="utf-8")
    return run


def _logits(model: Any, batch: list[tuple[str, str, float]], *, max_length: int) -> Any:
    features = model.tokenizer([q for q, *_ in batch], [p for _, p, _ in batch], truncation="only_second",
                               max_length=max_length, padding=True, return_tensors="pt")  # fmt: skip
    return model.model(**features).logits.view(-1)


def validation_loss(model: Any, pairs: list[tuple[str, str, float]], *, torch: Any, batch_size: int,
                    max_length: int) -> float:  # fmt: skip
    """Mean binary cross-entropy over the validation pairs, dropout off."""
    model.model.eval()
    total, loss_fn = 0.0, torch.nn.BCEWithLogitsLoss(reduction="sum")
    with torch.inference_mode():
        for start in range(0, len(pairs), batch_size):
            batch = pairs[start: start + batch_size]
            logits = _logits(model, batch, max_length=max_length)
            total += float(loss_fn(logits, torch.tensor([y for *_, y in batch])))
    return total / max(1, len(pairs))


def _seed(torch: Any, seed: int) -> None:
    import numpy as np

    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def _imports() -> tuple[Any, Any]:
    try:
        import torch
        from sentence_transformers import CrossEncoder
        from transformers.utils import logging as hf_logging
    except ImportError as exc:
        raise PluginError(f'training a re-ranker needs the finetune extra ({exc.name} is missing): '
                          'pip install "dayshift[finetune]"') from exc  # fmt: skip
    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    return torch, CrossEncoder


class _bar:
    """A rich progress bar on stderr whose description carries the last loss."""

    def __init__(self, enabled: bool, total: int) -> None:
        from rich.console import Console
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

        self._progress = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                                  TimeElapsedColumn(), console=Console(stderr=True), disable=not enabled)  # fmt: skip
        self._task = self._progress.add_task("training", total=total)

    def __enter__(self) -> Self:
        self._progress.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._progress.stop()

    def advance(self, description: str) -> None:
        self._progress.update(self._task, advance=1, description=description)
