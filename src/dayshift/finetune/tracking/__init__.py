"""What a training run records: losses per step, early stopping, the overfitting alarm, curves, trackers."""

from dayshift.finetune.tracking.curves import LossHistory, OverfitVerdict, detect_overfitting, plot_curves
from dayshift.finetune.tracking.stopping import EarlyStopping
from dayshift.finetune.tracking.trackers import Tracker, open_tracker

__all__ = ["EarlyStopping", "LossHistory", "OverfitVerdict", "Tracker", "detect_overfitting", "open_tracker",
           "plot_curves"]
