"""Training examples from what users already have: their chunks, their eval sets, their rated traces."""

from dayshift.finetune.data.examples import TrainingExample, data_hash, read_examples, split_examples, write_examples

__all__ = ["TrainingExample", "data_hash", "read_examples", "split_examples", "write_examples"]
