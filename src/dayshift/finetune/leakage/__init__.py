"""The leakage check: an eval case whose question or passage is in the training data cannot judge the model."""

from dayshift.finetune.leakage.check import Leak, LeakageReport, check_leakage

__all__ = ["Leak", "LeakageReport", "check_leakage"]
