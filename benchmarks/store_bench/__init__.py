"""The parts of benchmarks/store_candidates.py, one module per section and per family of engines."""
