"""Structured answers (Answerer.ask_json): JSON valid against the caller's schema, through the same
retrieval, support veto, citations and "I don't know" as a text answer.

The local reader answers where the model's behaviour is the point; a scripted backend stands in only
for replies a real model cannot be made to give on demand (a value found in no source, broken JSON).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from jsonschema import Draft202012Validator

from dayshift.answer.answerer import Answerer
from dayshift.assemble import open_answerer, open_embedder, open_ingestor
from dayshift.embed.base import Embedder
from dayshift.errors import ConfigError
from dayshift.http import RetryPolicy
from dayshift.llm.base import Timeouts
from dayshift.llm.client import LLMClient
from dayshift.llm.readers import DEFAULT_READER, installed_readers
from dayshift.settings import Settings, load_settings
from dayshift.testing.scripted_llm import ScriptedBackend

CORPUS = {
    "volcanoes.md": "# Volcanoes of Iceland\n\nHekla is one of the most active volcanoes in Iceland. It erupted in the "
                    "year 1104 and buried farms in the Thjorsardalur valley.\n",
    "bread.md": "# Baking sourdough bread\n\nBake the loaf in a Dutch oven at 250 degrees Celsius for twenty minutes "
                "with the lid on.\n",
}
ERUPTION = {
    "type": "object",
    "properties": {"volcano": {"type": "string", "maxLength": 40}, "year": {"type": "integer"},
                   "valley": {"type": ["string", "null"], "maxLength": 60}},
    "required": ["volcano", "year", "valley"],
    "additionalProperties": False,
}
QUESTION = "When did Hekla erupt and which valley did it bury?"


@pytest.fixture(scope="module")
def settings(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    root = tmp_path_factory.mktemp("structured")
    (root / "corpus").mkdir()
    for name, text in CORPUS.items():
        (root / "corpus" / name).write_text(text, encoding="utf-8")
    return load_settings(data_dir=root / "data")


@pytest.fixture(scope="module")
def embedder(settings: Settings) -> Embedder:
    embedder = open_embedder(settings)
    report = open_ingestor(settings, embedder=embedder).sync(Path(settings.data_dir).parent / "corpus")
    assert report.failed == []
    return embedder


def scripted(settings: Settings, embedder: Embedder, *replies: str) -> Answerer:
    client = LLMClient([ScriptedBackend(replies)], timeouts=Timeouts(), retry=RetryPolicy(max_retries=0),
                       breaker_failures=5, breaker_reset_s=30)
    return open_answerer(settings, embedder=embedder, llm=client)


@pytest.mark.skipif(DEFAULT_READER not in set(installed_readers()), reason="the default reader is not installed")
def test_the_local_reader_fills_the_schema_from_the_sources(settings: Settings, embedder: Embedder) -> None:
    answer = open_answerer(settings, embedder=embedder).ask_json(QUESTION, schema=ERUPTION)
    assert not answer.abstained, (answer.reason, answer.draft)
    assert not list(Draft202012Validator(ERUPTION).iter_errors(answer.data))
    assert answer.data["year"] == 1104 and "hekla" in answer.data["volcano"].lower()
    assert answer.supported and [Path(s.chunk.source).name for s in answer.cited] == ["volcanoes.md"]
    assert json.loads(answer.text) == answer.data


def test_a_value_no_source_holds_withdraws_the_json(settings: Settings, embedder: Embedder) -> None:
    made_up = json.dumps({"volcano": "Hekla", "year": 1947, "valley": "Snorri valley"})
    answer = scripted(settings, embedder, made_up).ask_json(QUESTION, schema=ERUPTION)
    assert answer.abstained and answer.data is None and not answer.supported
    assert "values the sources do not" in answer.reason and "1947" in answer.reason
    assert answer.confidence < 0.75  # capped by the weakest value's support


def test_broken_json_is_repaired_or_asked_again_within_bounds(settings: Settings, embedder: Embedder) -> None:
    good = json.dumps({"volcano": "Hekla", "year": 1104, "valley": "Thjorsardalur valley"})
    answer = scripted(settings, embedder, "{'volcano': Hekla, year:", good).ask_json(QUESTION, schema=ERUPTION)
    assert not answer.abstained and answer.data["year"] == 1104
    assert answer.completion is not None and answer.completion.metadata["reasks"] == 1
    hopeless = scripted(settings, embedder, "no", "still no", "never").ask_json(QUESTION, schema=ERUPTION)
    assert hopeless.abstained and "no valid JSON" in hopeless.reason and hopeless.data is None


def test_an_off_topic_question_is_abstained_on_before_any_model_call(settings: Settings, embedder: Embedder) -> None:
    answerer = scripted(settings, embedder)  # no reply scripted: a model call would fail the test
    answer = answerer.ask_json("Who won the 1998 football world cup?", schema=ERUPTION)
    assert answer.abstained and answer.completion is None and answer.data is None


@pytest.mark.parametrize(("schema", "where"), [({"type": "array"}, "an object"),
                                               ({"type": "object", "properties": {"a": {"type": 7}}}, "properties.a")])
def test_a_bad_schema_fails_before_retrieval(settings: Settings, embedder: Embedder, schema: dict, where: str) -> None:
    with pytest.raises(ConfigError, match=where):
        scripted(settings, embedder).ask_json(QUESTION, schema=schema)
