"""`dayshift eval run` and `dayshift eval gate` through the console script, the bundled models and a real index.

A small corpus of made-up facts (no model knows them beforehand), four cases, and a prompt folder:
qa v1 is the shipped answer prompt; v2 has a template bug that leaves the excerpts out (the facts are
made up, so no answerable case can pass without them: the gate must block it and name the cases); v3 only changes v1's
description, so it renders the same messages, breaks nothing and is promoted.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from cli_runner import run

from dayshift.evals.cases import EvalCase, save_dataset
from dayshift.llm.readers import DEFAULT_READER

SHIPPED = Path(__file__).resolve().parents[2] / "src" / "dayshift" / "answer" / "prompts" / "answer.j2"
DOCS = {
    "bridges.md": "# Zorblax Bridge\n\nThe Zorblax Bridge over the river Tane was designed by the engineer Mara Quinn. "
                  "It opened in 1887 and carries two railway tracks.\n",
    "lighthouses.md": "# Pellory Lighthouse\n\nThe Pellory Lighthouse stands on Gannet Rock. Its lamp was first lit "
                      "in 1912 and its keeper for thirty years was Ewan Stroud.\n",
    "orchards.md": "# Quillon Orchards\n\nQuillon Orchards grow a pear called the Amber Vell. The orchards lie "
                   "in the valley of Marrow Dale, north of the town of Fenby.\n",
}
# Each `dayshift eval` run loads the default reader (Qwen2.5-Coder-1.5B) in a fresh process; on a loaded
# 2-core machine a test took more than the suite's 600 s, while each CLI call may take 900 s.
pytestmark = [pytest.mark.slow, pytest.mark.timeout(1800)]
CASES = [
    EvalCase(id="bridge-designer", question="Who designed the Zorblax Bridge?", expected_answers=["Mara Quinn"],
             expected_sources=["corpus/bridges.md"], answerable=True, tags=["people"]),
    EvalCase(id="lighthouse-rock", question="On which rock does the Pellory Lighthouse stand?",
             expected_answers=["Gannet Rock"], expected_sources=["corpus/lighthouses.md"], answerable=True),
    EvalCase(id="pear-name", question="What pear do Quillon Orchards grow?", expected_answers=["the Amber Vell"],
             expected_sources=["corpus/orchards.md"], answerable=True),
    EvalCase(id="volcano", question="How tall is the volcano Mount Kerrowhin in metres?", expected_answers=[],
             expected_sources=[], answerable=False, tags=["unanswerable"]),
]


def _version(text: str, version: int, description: str) -> str:
    text = text.replace("name: answer", "name: qa", 1)
    text = text.replace("version: 2", f"version: {version}", 1)
    return text.replace(text.split("description: ", 1)[1].split("\n", 1)[0], description, 1)


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("eval-project")
    (root / "corpus").mkdir()
    for name, text in DOCS.items():
        (root / "corpus" / name).write_text(text, encoding="utf-8")
    prompts = root / "prompts"
    prompts.mkdir()
    shipped = SHIPPED.read_text(encoding="utf-8")
    (prompts / "qa-v1.j2").write_text(_version(shipped, 1, "the shipped answer prompt"), encoding="utf-8")
    text_line = "Text: {% for s in sources %}[{{ s.n }}] {{ s.text }} {% endfor %}\n"
    assert text_line in shipped, "the shipped prompt's excerpt line changed: update this test's broken v2"
    broken = _version(shipped, 2, "leaves the excerpts out").replace(text_line, "")  # a template bug
    (prompts / "qa-v2.j2").write_text(broken, encoding="utf-8")
    (prompts / "qa-v3.j2").write_text(_version(shipped, 3, "v1 with a clearer description"), encoding="utf-8")
    (prompts / "labels.yaml").write_text("qa:\n  production: 1\n", encoding="utf-8")
    (root / "dayshift.toml").write_text(
        f'[answer]\nprompt = "qa"\nprompt_dir = "{prompts}"\nabstain_threshold = 0.2\n', encoding="utf-8")
    save_dataset(root / "cases.jsonl", CASES)
    done = run(root / "data", "--config", str(root / "dayshift.toml"), "ingest", str(root / "corpus"))
    assert done.returncode == 0, done.stderr
    return root


def _eval(project: Path, *args: str) -> tuple[int, str, str]:
    done = run(project / "data", "--config", str(project / "dayshift.toml"), "eval", *args, timeout=900)
    return done.returncode, done.stdout, done.stderr


def test_eval_run_scores_every_case_and_a_second_run_comes_from_the_cache(project: Path) -> None:
    code, out, err = _eval(project, "run", "--prompt", "qa@1", "--dataset", str(project / "cases.jsonl"), "--json")
    assert code == 0, err
    first = json.loads(out)
    summary, config = first["summary"], first["config"]
    assert summary["cases"] == 4 and summary["errors"] == 0
    assert summary["recall_at_k"] == 1.0  # every answerable case finds its document
    assert summary["pass_rate"] >= 0.5, summary  # the facts are plain; the model must get most of them
    assert config["prompt"] == "qa@v1" and len(config["prompt_hash"]) == 64
    assert config["model"] == DEFAULT_READER and config["index_version"] != "empty"
    saved = json.loads(Path(first["path"]).read_text())
    assert [r["case_id"] for r in saved["results"]] == [c.id for c in CASES]

    code, out, err = _eval(project, "run", "--prompt", "qa@1", "--dataset", str(project / "cases.jsonl"), "--json")
    assert code == 0, err
    second = json.loads(out)
    answered = sum(not r["abstained"] for r in saved["results"] if r["input_tokens"])
    assert second["summary"]["cached"] >= answered > 0
    assert second["summary"]["pass_rate"] == summary["pass_rate"]


def test_the_gate_blocks_a_candidate_that_breaks_passing_cases_and_promotes_one_that_does_not(project: Path) -> None:
    labels = project / "prompts" / "labels.yaml"
    report = project / "report-v2"
    code, out, err = _eval(project, "gate", "--baseline", "production", "--candidate", "qa@2",
                           "--dataset", str(project / "cases.jsonl"), "--report", str(report), "--json")
    assert code == 1, err  # blocked: CI fails
    blocked = json.loads(out)
    assert not blocked["gate_passed"] and not blocked["promoted"]
    assert blocked["broken_cases"], blocked
    assert set(blocked["broken_cases"]) <= {"bridge-designer", "lighthouse-rock", "pear-name"}
    markdown = (report / "gate-report.md").read_text()
    assert "BLOCKED" in markdown and all(case in markdown for case in blocked["broken_cases"])
    assert "BROKEN" in (report / "gate-report.html").read_text()
    assert yaml.safe_load(labels.read_text())["qa"]["production"] == 1

    code, out, err = _eval(project, "gate", "--baseline", "production", "--candidate", "qa@3",
                           "--dataset", str(project / "cases.jsonl"), "--report", str(project / "report-v3"))
    assert code == 0, out + err
    assert "PASSED" in out and "qa@v3 is now production" in out
    assert yaml.safe_load(labels.read_text())["qa"]["production"] == 3
    code, out, err = _eval(project, "gate", "--candidate", "qa@9", "--dataset", str(project / "cases.jsonl"))
    assert code == 2 and "qa" in err and "9" in err  # an unknown version is an error, not a verdict
