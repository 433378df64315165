"""A cross-encoder re-ranker trained on the user's examples, starting from the bundled MiniLM weights."""

from dayshift.finetune.train_reranker.trainer import RerankerConfig, TrainingRun, train_reranker

__all__ = ["RerankerConfig", "TrainingRun", "train_reranker"]
