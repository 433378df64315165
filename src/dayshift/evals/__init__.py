"""Evals: datasets of questions with expected answers and sources, metrics, runs, and the release gate.

    cases      the JSONL dataset format, loaded, validated and edited under a lock
    importers  SQuAD 2.0 and BEIR folders -> a corpus to ingest and the cases that test it
    harvest    production traces with negative feedback or an abstention -> candidate cases
    metrics    pure scoring functions (SQuAD EM/F1, recall/MRR/nDCG, groundedness, ...)
"""
