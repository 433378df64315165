"""`dayshift demo`, `ask` and `calibrate` run as a user runs them, with the bundled models.

The demo must work with no data of its own (its corpus ships in the package) and must show one
clean "I don't know"; `ask --json` must carry the answer's parts; `calibrate` must save a model
that `ask` then uses.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from cli_runner import run

from dayshift.answer.abstain import ABSTAIN_TEXT, FEATURES, AbstentionModel
from dayshift.errors import PluginError
from dayshift.llm.local import bundled_model_path

try:
    bundled_model_path()
except PluginError as exc:  # pragma: no cover - the Makefile installs it
    pytest.skip(f"the bundled language model is not installed: {exc}", allow_module_level=True)

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def demo_dir(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    data_dir = tmp_path_factory.mktemp("demo")
    result = run(data_dir, "demo")
    assert result.returncode == 0, result.stderr
    return data_dir, result.stdout


def test_demo_ingests_the_shipped_corpus_and_abstains_on_the_off_topic_question(demo_dir: tuple[Path, str]) -> None:
    data_dir, out = demo_dir
    assert "2 added" in out and "0 failed" in out
    assert (data_dir / "demo" / "index.sqlite").is_file()
    mercury = out.split("What is the boiling point of mercury?")[1]
    assert ABSTAIN_TEXT in " ".join(mercury.split())
    assert "confidence 0.0" in mercury and "[1]" not in mercury  # nothing released, nothing cited


def test_the_demo_answers_are_correct_and_cited(demo_dir: tuple[Path, str]) -> None:
    _, out = demo_dir
    sections = {q: out.split(q)[1] for q in ("Which embedding model does dayshift bundle?",
                                             "How does dayshift combine keyword and dense search?",
                                             "Which file formats can dayshift ingest?")}
    expected = {"Which embedding model does dayshift bundle?": ["MiniLM-L6-v2"],
                "How does dayshift combine keyword and dense search?": ["fusion"],
                "Which file formats can dayshift ingest?": ["PDF", "HTML", "Markdown", "CSV"]}
    for question, words in expected.items():
        verdict = sections[question].lstrip("─ \n").split("─")[0]  # past its own rule, up to the next one
        assert ABSTAIN_TEXT not in " ".join(verdict.split()), (question, verdict)
        assert all(w in verdict for w in words), (question, verdict)
        assert "[1] dayshift FAQ" in verdict, (question, verdict)  # cited: the FAQ section it stands on


def test_ask_json_carries_answer_confidence_and_citations(demo_dir: tuple[Path, str]) -> None:
    data_dir, _ = demo_dir
    result = run(data_dir / "demo", "ask", "Which file formats can dayshift ingest?", "--json")
    assert result.returncode == 0, result.stderr
    answer = json.loads(result.stdout)
    assert set(answer) >= {"answer", "abstained", "reason", "confidence", "citations", "usage", "prompt", "evidence",
                           "supported"}
    assert tuple(answer["evidence"]) == FEATURES
    assert 0.0 <= answer["confidence"] <= 1.0
    assert answer["prompt"].startswith("answer@v")
    if answer["abstained"]:
        assert answer["answer"].startswith(ABSTAIN_TEXT) and answer["reason"]
    else:
        assert answer["citations"], "the FAQ answers this word for word: the answer cites it"
        assert answer["supported"] is True
        assert all(c["source"].endswith((".md",)) for c in answer["citations"])
    off_topic = json.loads(run(data_dir / "demo", "ask", "Who won the 1954 football world cup?", "--json").stdout)
    assert off_topic["abstained"] is True and off_topic["citations"] == [] and off_topic["usage"] is None


def test_calibrate_saves_a_model_that_ask_then_uses(demo_dir: tuple[Path, str], tmp_path: Path) -> None:
    data_dir, _ = demo_dir
    dev = tmp_path / "dev.jsonl"
    rows = [
        {"question": "Which embedding model does dayshift bundle?", "answerable": True},
        {"question": "Which file formats can dayshift ingest?", "answerable": True},
        {"question": "Where does dayshift store its index?", "answerable": True},
        {"question": "What is the boiling point of mercury?", "answerable": False},
        {"question": "Who painted the Mona Lisa?", "answerable": False},
        {"question": "How tall is Mount Kilimanjaro?", "is_impossible": True},
    ]
    dev.write_text("".join(json.dumps(r) + "\n" for r in rows))
    refused = run(data_dir / "demo", "calibrate", "--dataset", str(dev))  # the 95% bound needs 59 unanswerable
    assert refused.returncode == 2 and "3 unanswerable questions cannot show" in refused.stderr
    assert "at least 59" in refused.stderr and not (data_dir / "demo" / "calibration.json").exists()
    result = run(data_dir / "demo", "calibrate", "--dataset", str(dev), "--confidence", "0")
    assert result.returncode == 0, result.stderr
    assert "false answers 0.0% (95% interval 0.0%-" in " ".join(result.stdout.split())
    model = AbstentionModel.load(data_dir / "demo" / "calibration.json")
    assert model.fitted_on["answerable"] == 3 and model.fitted_on["unanswerable"] == 3
    assert all(w >= 0 for w in model.weights.values())
    assert model.fitted_on["false_answer_rate"] <= 0.05


def test_calibrate_names_the_bad_line(tmp_path: Path) -> None:
    dev = tmp_path / "dev.jsonl"
    dev.write_text('{"question": "ok?", "answerable": true}\n{"text": "no question field"}\n')
    result = run(tmp_path / "data", "calibrate", "--dataset", str(dev))
    assert result.returncode == 2
    assert f"{dev}:2" in result.stderr and "fix that line" in result.stderr
