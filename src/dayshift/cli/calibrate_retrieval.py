"""`dayshift calibrate --retrieval evals/qa.jsonl`: fit the hybrid fusion on your own labelled queries.

The file is an eval dataset (`dayshift eval import`, `eval harvest`, or written by hand): each case
whose `expected_sources` name documents is a labelled query. Half of them choose the fusion, the
other half score it (retrieve/calibrate.py); the choice goes to data_dir/retrieval_fusion.json,
which every retriever opened on this data folder then uses. Delete the file to go back to `[retrieve]`.
"""

from __future__ import annotations

from pathlib import Path

from rich.console import Console
from rich.progress import track

from dayshift.assemble import open_retriever
from dayshift.errors import ConfigError
from dayshift.evals.cases import load_dataset
from dayshift.retrieve.calibrate import LabelledQuery, fit_fusion
from dayshift.settings import Settings


def calibrate_retrieval(settings: Settings, dataset: Path) -> None:
    queries = labelled_queries(dataset)
    retriever = open_retriever(settings)
    fit = fit_fusion(queries, retriever.document_lists, configured=retriever.settings,
                     progress=lambda qs: track(qs, description="retrieving"))  # fmt: skip
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    path = fit.save(settings.data_dir)
    Console(soft_wrap=True).print(
        f"saved {path}: {fit.chosen.label()} (was {fit.configured.label()}), chosen on {fit.fit_queries} queries.\n"
        f"On the {fit.held_out_queries} held-out queries, nDCG@10: fitted {fit.held_out_ndcg:.3f}, "
        f"configured {fit.held_out_configured_ndcg:.3f}, keyword alone {fit.held_out_keyword_ndcg:.3f}, "
        f"dense alone {fit.held_out_dense_ndcg:.3f}."
    )


def labelled_queries(path: Path) -> list[LabelledQuery]:
    """Accepted cases with expected documents, as (question, relevant document ids)."""
    if not path.is_file():
        raise ConfigError(f"{path}: no such eval dataset; pass a JSONL file of cases (dayshift eval import makes one)")
    cases = load_dataset(path).cases
    return [
        LabelledQuery(text=c.question, relevant=frozenset(c.expected_sources))
        for c in cases
        if c.expected_sources and c.status == "accepted"
    ]
