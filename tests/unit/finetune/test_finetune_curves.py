"""The overfitting alarm, early stopping with the best weights restored, and the loss-curve PNG."""

from __future__ import annotations

from pathlib import Path

import torch

from dayshift.finetune.tracking import EarlyStopping, LossHistory, detect_overfitting, plot_curves


def _history(train: list[float], validation: list[float], every: int = 10) -> LossHistory:
    return LossHistory(train=[(i + 1, v) for i, v in enumerate(train)],
                       validation=[((i + 1) * every, v) for i, v in enumerate(validation)])


def test_validation_rising_while_training_falls_is_flagged() -> None:
    history = _history([1.0 - i * 0.015 for i in range(60)], [0.70, 0.55, 0.50, 0.56, 0.62, 0.70])
    verdict = detect_overfitting(history)
    assert verdict.flagged
    assert "rose from 0.5000 (step 30) to 0.7000 (step 60)" in verdict.reason


def test_both_falling_is_learning_and_both_rising_is_not_overfitting() -> None:
    assert not detect_overfitting(_history([1.0 - i * 0.01 for i in range(60)], [0.7, 0.6, 0.5, 0.45, 0.4])).flagged
    assert not detect_overfitting(_history([0.5 + i * 0.01 for i in range(60)], [0.5, 0.4, 0.6, 0.7, 0.8])).flagged


def test_too_few_validation_points_are_not_judged() -> None:
    verdict = detect_overfitting(_history([1.0, 0.5], [0.5, 0.9]))
    assert not verdict.flagged and "too few" in verdict.reason


def test_early_stopping_spends_its_patience_and_restores_the_best_weights() -> None:
    model = torch.nn.Linear(2, 1)
    stopper = EarlyStopping(patience=2)
    with torch.no_grad():
        model.weight.fill_(1.0)
    assert not stopper.update(10, 0.5, model)
    with torch.no_grad():
        model.weight.fill_(9.0)
    assert not stopper.update(20, 0.6, model)
    assert stopper.update(30, 0.7, model)  # second check without a new best: stop
    assert stopper.restore(model)
    assert torch.equal(model.weight, torch.ones_like(model.weight)) and stopper.best_step == 10


def test_the_plot_is_a_png_with_both_curves(tmp_path: Path) -> None:
    history = _history([1.0 - i * 0.015 for i in range(60)], [0.70, 0.55, 0.50, 0.56, 0.62, 0.70])
    path = plot_curves(history, tmp_path / "loss.png", title="test", best_step=30, overfit=detect_overfitting(history))
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 10_000
