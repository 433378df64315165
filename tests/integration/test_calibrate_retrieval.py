"""`dayshift calibrate --retrieval` end to end: a real index, labelled eval cases, the fusion saved and then used."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from dayshift.assemble import open_embedder, open_ingestor, open_retriever
from dayshift.cli.main import app
from dayshift.errors import ConfigError
from dayshift.retrieve.calibrate import FILE
from dayshift.settings import load_settings

TOPICS = [
    ("volcano", "Magma rises through the crust and erupts from a volcano as lava."),
    ("tides", "The moon's gravity pulls the oceans, and the tides rise and fall twice a day."),
    ("bees", "Honey bees dance to tell the hive where flowers with nectar are."),
    ("glaciers", "Glaciers carve valleys as the ice slowly grinds over the bedrock."),
    ("comets", "A comet's tail of gas and dust always points away from the sun."),
    ("coral", "Coral reefs are built by colonies of tiny animals that secrete limestone."),
    ("lightning", "Lightning is a discharge of static electricity between clouds and the ground."),
    ("deserts", "Deserts get less than 250 millimetres of rain in a year."),
    ("tsunami", "An undersea earthquake can push up a tsunami that crosses an ocean in hours."),
    ("aurora", "Charged particles from the sun make the aurora glow over the poles."),
    ("mushrooms", "Mushrooms are the fruiting bodies of fungi that live in the soil."),
    ("owls", "Owls hunt at night and hear the faintest rustle of a mouse."),
]
QUESTIONS = [
    "what comes out of a volcano", "why does the sea go up and down", "how do bees find flowers",
    "how are valleys carved by ice", "which way does a comet tail point", "what builds a reef",
    "what is lightning", "how much rain falls in a desert", "what causes a tsunami", "why do the poles glow",
    "what are mushrooms", "how do owls hunt",
]


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("calibrate-retrieval")
    corpus = root / "docs"
    corpus.mkdir()
    for name, text in TOPICS:
        (corpus / f"{name}.md").write_text(f"# {name.title()}\n\n{text}\n", encoding="utf-8")
    settings = load_settings(data_dir=root / "index")
    report = open_ingestor(settings, embedder=open_embedder(settings)).sync(corpus)
    assert report.ok and len(report.added) == len(TOPICS)
    cases = [
        {"id": f"c{i}", "question": q, "expected_answers": [], "expected_sources": [f"docs/{name}.md"],
         "answerable": True}
        for i, (q, (name, _)) in enumerate(zip(QUESTIONS, TOPICS))
    ]  # fmt: skip
    (root / "cases.jsonl").write_text("".join(json.dumps(c) + "\n" for c in cases), encoding="utf-8")
    return root


def test_the_fitted_fusion_is_saved_reported_on_held_out_queries_and_used(data_dir: Path) -> None:
    index = data_dir / "index"
    result = CliRunner().invoke(app, ["--data-dir", str(index), "calibrate", "--retrieval",
                                      str(data_dir / "cases.jsonl")])  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "held-out queries" in result.output and "keyword alone" in result.output
    saved = json.loads((index / FILE).read_text())
    fitted_on = saved["fitted_on"]
    assert fitted_on["fit_queries"] + fitted_on["held_out_queries"] == len(QUESTIONS)
    assert 0.0 <= fitted_on["held_out_ndcg"] <= 1.0
    retriever = open_retriever(load_settings(data_dir=index))
    assert (retriever.settings.fusion, retriever.settings.dense_weight) == (
        saved["chosen"]["fusion"], saved["chosen"]["dense_weight"])


def test_a_missing_dataset_is_a_clear_error(data_dir: Path) -> None:
    result = CliRunner().invoke(app, ["--data-dir", str(data_dir / "index"), "calibrate", "--retrieval",
                                      str(data_dir / "nope.jsonl")])  # fmt: skip
    # `dayshift` prints a DayshiftError's message and exits 2 (cli.main.main); the app raises it
    assert isinstance(result.exception, ConfigError) and "no such eval dataset" in str(result.exception)
