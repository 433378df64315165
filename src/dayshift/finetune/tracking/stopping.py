"""Early stopping on validation loss: patience, and the best checkpoint kept to restore.

The best weights are copied in memory (the models trained here are tens of MB), so restoring
never reads a file that a crash could have left half-written. Left out: stopping on metrics
other than a loss, and min-delta schedules.
"""

from __future__ import annotations

import copy
from typing import Any


class EarlyStopping:
    def __init__(self, *, patience: int, min_delta: float = 0.0) -> None:
        if patience < 1:
            raise ValueError(f"patience must be at least 1, got {patience}")
        self.patience, self.min_delta = patience, min_delta
        self.best_loss = float("inf")
        self.best_step: int | None = None
        self.bad_checks = 0
        self._best_state: dict[str, Any] | None = None

    def update(self, step: int, loss: float, model: Any) -> bool:
        """Record one validation loss; True when training should stop (patience spent)."""
        if loss < self.best_loss - self.min_delta:
            self.best_loss, self.best_step, self.bad_checks = loss, step, 0
            self._best_state = copy.deepcopy(model.state_dict())
            return False
        self.bad_checks += 1
        return self.bad_checks >= self.patience

    def restore(self, model: Any) -> bool:
        """Load the best weights back into `model`; False when no validation point was recorded."""
        if self._best_state is None:
            return False
        model.load_state_dict(self._best_state)
        return True
