"""`dayshift demo`: the whole pipeline on a fresh machine, with no data of your own.

Ingests the small corpus shipped inside the package (dayshift's own FAQ and
architecture notes) into data_dir/demo, then answers
sample questions with the bundled model -- and shows one clean "I don't know"
for a question the corpus cannot answer.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

import typer
from rich.console import Console

from dayshift.assemble import open_answerer, open_embedder, open_ingestor
from dayshift.cli.answering import stream_answer
from dayshift.cli.progress import RichProgress
from dayshift.settings import Settings

QUESTIONS = (
    "Which embedding model does dayshift bundle?",
    "How does dayshift combine keyword and dense search?",
    "Which file formats can dayshift ingest?",
    "What is the boiling point of mercury?",  # not in the corpus: dayshift must abstain
)


def corpus_dir() -> Path:
    return Path(str(resources.files("dayshift.demo") / "corpus"))


def demo(ctx: typer.Context) -> None:
    """Ingest the shipped demo corpus and answer sample questions with the bundled model."""
    settings: Settings = ctx.obj
    settings = settings.model_copy(update={"data_dir": settings.data_dir / "demo"})
    console = Console(highlight=False)
    console.rule("ingest: dayshift's own docs, shipped in the package")
    embedder = open_embedder(settings)
    with RichProgress() as progress:
        report = open_ingestor(settings, embedder=embedder).sync(corpus_dir(), progress=progress)
    counts = report.counts()
    console.print(", ".join(f"{counts[k]} {k}" for k in ("added", "updated", "unchanged", "failed"))
                  + f" -> {settings.data_dir}")
    answerer = open_answerer(settings, embedder=embedder)
    for question in QUESTIONS:
        console.rule(question)
        stream_answer(answerer.ask(question), console)
