"""Loss curves: the history of a run, the overfitting verdict, and the PNG a user looks at.

Overfitting, as the alarm reads it: over the last `window` validation points, validation loss
rose (its last value is above its best by more than `min_rise`, relative) while training loss fell
over the same steps. Either alone is not overfitting: both rising is a learning rate too high, both
falling is learning. Left out: smoothing choices beyond a running mean of the training loss, and
metrics other than the two losses on the plot.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path


@dataclass(slots=True)
class LossHistory:
    train: list[tuple[int, float]] = field(default_factory=list)  # (step, loss)
    validation: list[tuple[int, float]] = field(default_factory=list)  # (step, loss)

    def to_json(self) -> dict[str, list[list[float]]]:
        return {"train": [list(p) for p in self.train], "validation": [list(p) for p in self.validation]}


@dataclass(frozen=True, slots=True)
class OverfitVerdict:
    flagged: bool
    reason: str


def _mean(values: list[float]) -> float:
    return sum(values) / len(values) if values else float("nan")


def detect_overfitting(history: LossHistory, *, window: int = 3, min_rise: float = 0.02) -> OverfitVerdict:
    """Flagged when validation loss rose above its best while training loss fell, over the last points."""
    val = history.validation
    if len(val) < window + 1:
        return OverfitVerdict(False, f"{len(val)} validation points: too few to judge (need {window + 1})")
    best_step, best = min(val, key=lambda p: p[1])
    last_step, last = val[-1]
    rose = best_step < last_step and last > best * (1.0 + min_rise)
    before = [loss for step, loss in history.train if step <= best_step]
    after = [loss for step, loss in history.train if step > best_step]
    k = max(1, min(len(before), len(after), 20))
    fell = bool(before and after) and _mean(after[-k:]) < _mean(before[-k:])
    if rose and fell:
        return OverfitVerdict(True, f"validation loss rose from {best:.4f} (step {best_step}) to {last:.4f} "
                                    f"(step {last_step}) while training loss fell from {_mean(before[-k:]):.4f} "
                                    f"to {_mean(after[-k:]):.4f}")  # fmt: skip
    return OverfitVerdict(False, f"validation loss best {best:.4f} at step {best_step}, last {last:.4f}")


def plot_curves(history: LossHistory, path: Path, *, title: str, best_step: int | None = None,
                overfit: OverfitVerdict | None = None) -> Path:  # fmt: skip
    """Training loss (raw and running mean) and validation loss against step, as a PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4), dpi=110)
    if history.train:
        steps, losses = zip(*history.train, strict=True)
        ax.plot(steps, losses, color="tab:blue", alpha=0.25, linewidth=0.8)
        n = max(1, len(losses) // 25)
        smooth = [_mean(list(losses[max(0, i - n + 1): i + 1])) for i in range(len(losses))]
        ax.plot(steps, smooth, color="tab:blue", label="training loss (running mean)")
    if history.validation:
        steps, losses = zip(*history.validation, strict=True)
        ax.plot(steps, losses, "o-", color="tab:orange", label="validation loss")
    if best_step is not None:
        ax.axvline(best_step, color="tab:green", linestyle="--", label=f"best checkpoint (step {best_step})")
    if overfit is not None and overfit.flagged:
        ax.set_title(f"{title}\nOVERFITTING: validation loss rising while training loss falls", color="tab:red")
    else:
        ax.set_title(title)
    ax.set_xlabel("step")
    ax.set_ylabel("loss")
    ax.legend(loc="upper right", fontsize=8)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)
    return path
