"""`dayshift review` as a user runs it: the installed console script, in a clean environment."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from cli_runner import _dayshift
from cli_runner import run as run_full

REPO_ROOT = Path(__file__).resolve().parents[2]
APP = '''from fastapi import FastAPI
from openai import OpenAI

app = FastAPI()
client = OpenAI()


@app.post("/ask")
def ask(question: str):
    reply = client.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": question}])
    return reply.choices[0].message.content
'''


def review(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DAYSHIFT_")}
    env.update(COLUMNS="200", NO_COLOR="1")
    return subprocess.run([_dayshift(), "review", *args], cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=120, check=False)


@pytest.fixture
def project(tmp_path: Path) -> Path:
    (tmp_path / "pyproject.toml").write_text("[project]\nname = 'demo'\n", encoding="utf-8")
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "app.py").write_text(APP, encoding="utf-8")
    (tmp_path / "src" / "clean.py").write_text("def add(a, b):\n    return a + b\n", encoding="utf-8")
    return tmp_path


def test_text_report_names_file_line_rule_why_and_fix_and_exits_1(project: Path):
    done = review(project, "src")
    assert done.returncode == 1, done.stderr
    out = done.stdout
    assert "src/app.py:10:13: DS101" in out
    assert {"DS101", "DS201", "DS401", "DS602"} <= {line.split()[1] for line in out.splitlines() if ": DS" in line}
    assert "  why: " in out and "  fix: " in out and "see: docs/review/timeouts.md#ds101" in out
    assert out.rstrip().endswith("4 findings in 1 file (DS101 x1, DS201 x1, DS401 x1, DS602 x1); 2 files, 13 lines reviewed")


def test_json_and_sarif_formats(project: Path):
    data = json.loads(review(project, "src", "--format", "json").stdout)
    assert data["files"] == 2
    assert {f["rule"] for f in data["findings"]} == {"DS101", "DS201", "DS401", "DS602"}
    first = data["findings"][0]
    assert first["path"] == "src/app.py" and first["why"] and first["fix"] and first["doc"].startswith("docs/review/")
    done = review(project, "src", "--format", "sarif", "--output", "review.sarif")
    assert done.returncode == 1
    assert done.stdout == "" and "4 findings in 1 file" in done.stderr
    sarif = json.loads((project / "review.sarif").read_text(encoding="utf-8"))
    assert sarif["version"] == "2.1.0" and len(sarif["runs"][0]["results"]) == 4


def test_a_clean_tree_exits_0_and_exit_zero_reports_without_failing(project: Path):
    done = review(project, "src/clean.py")
    assert (done.returncode, done.stdout.strip()) == (0, "no findings (1 file, 2 lines reviewed)")
    assert review(project, "src", "--exit-zero").returncode == 0


def test_select_ignore_and_pyproject_config(project: Path):
    done = review(project, "src", "--select", "timeout,DS6", "--format", "json")
    assert {f["rule"] for f in json.loads(done.stdout)["findings"]} == {"DS101", "DS602"}
    (project / "pyproject.toml").write_text("[tool.dayshift.review]\nignore = ['privacy', 'DS2']\n", encoding="utf-8")
    done = review(project, "src", "--format", "json")
    assert {f["rule"] for f in json.loads(done.stdout)["findings"]} == {"DS101", "DS602"}


def test_usage_and_config_errors_exit_2_with_the_fix(project: Path):
    done = review(project, "src", "--format", "xml")
    assert done.returncode == 2 and 'unknown format "xml"' in done.stderr
    done = review(project, "nowhere")
    assert done.returncode == 2 and "no such file or folder: nowhere" in done.stderr
    (project / "pyproject.toml").write_text("[tool.dayshift.review]\nselect = ['DS9']\n", encoding="utf-8")
    done = review(project, "src")
    assert done.returncode == 2 and 'unknown rule "DS9"' in done.stderr and "pyproject.toml" in done.stderr


@pytest.mark.skipif(shutil.which("git") is None, reason="git is not installed")
def test_diff_reports_only_what_changed_against_the_base(project: Path):
    env = {"GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.org", "GIT_COMMITTER_NAME": "t",
           "GIT_COMMITTER_EMAIL": "t@example.org", "PATH": os.environ["PATH"], "HOME": str(project)}
    for args in (["init", "-q", "-b", "main"], ["add", "."], ["commit", "-qm", "base"], ["checkout", "-qb", "pr"]):
        subprocess.run(["git", *args], cwd=project, env=env, check=True)
    assert review(project, "--diff", "main").stdout.startswith("no findings")
    (project / "src" / "clean.py").write_text("import requests\n\n\ndef add(a, b):\n    return requests.get(a)\n",
                                              encoding="utf-8")
    done = review(project, "--diff", "main", "--format", "json")
    assert [(f["path"], f["line"], f["rule"]) for f in json.loads(done.stdout)["findings"]] == [
        ("src/clean.py", 5, "DS101")]
    done = review(project, "--diff", "origin/main")
    assert done.returncode == 2 and "git fetch" in done.stderr


@pytest.mark.skipif(shutil.which("git") is None, reason="git is not installed")
def test_a_flow_across_modules_is_reported_and_diff_sees_it_from_the_unchanged_handler(project: Path):
    (project / "src" / "routes.py").write_text(
        "from fastapi import FastAPI\nfrom llm import ask\n\napp = FastAPI()\n\n\n"
        "@app.post('/q')\ndef q(question: str):\n    return ask(question)\n", encoding="utf-8")
    (project / "src" / "llm.py").write_text(
        "from openai import OpenAI\n\nclient = OpenAI(timeout=30, max_retries=3)\n\n\n"
        "def ask(text):\n    return client.chat.completions.create(model='m', max_tokens=50, messages=text)\n",
        encoding="utf-8")
    done = review(project, "src", "--select", "DS401", "--format", "json")
    assert [(f["path"], f["line"]) for f in json.loads(done.stdout)["findings"]] == [("src/app.py", 10),
                                                                                       ("src/llm.py", 7)]
    env = {"GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.org", "GIT_COMMITTER_NAME": "t",
           "GIT_COMMITTER_EMAIL": "t@example.org", "PATH": os.environ["PATH"], "HOME": str(project)}
    for args in (["init", "-q", "-b", "main"], ["add", "."], ["commit", "-qm", "base"]):
        subprocess.run(["git", *args], cwd=project, env=env, check=True)
    llm = (project / "src" / "llm.py").read_text(encoding="utf-8")
    (project / "src" / "llm.py").write_text(llm.replace("max_tokens=50", "max_tokens=60"), encoding="utf-8")
    done = review(project, "src", "--diff", "main", "--select", "DS401", "--format", "json")
    assert [(f["path"], f["line"]) for f in json.loads(done.stdout)["findings"]] == [("src/llm.py", 7)]


def test_the_full_cli_route_gives_the_same_report(project: Path, tmp_path: Path):
    fast = review(project, str(project / "src"), "--format", "json")
    full = run_full(tmp_path / "data", "review", str(project / "src"), "--format", "json")
    assert full.returncode == 1, full.stderr
    assert json.loads(full.stdout)["findings"] == json.loads(fast.stdout)["findings"]


def test_review_starts_without_loading_the_rest_of_dayshift():
    code = ("import sys\nsys.argv = ['dayshift', 'review', '--list-rules']\nfrom dayshift.cli.launch import main\n"
            "try:\n    main()\nexcept SystemExit:\n    pass\n"
            "heavy = sorted(m for m in ('torch', 'scipy', 'numpy', 'fastapi', 'sqlalchemy', 'dayshift.settings') "
            "if m in sys.modules)\nprint('HEAVY', heavy)\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False)
    assert "DS801  agent-loop" in done.stdout
    assert "HEAVY []" in done.stdout, done.stdout


def test_the_pre_commit_hook_runs_the_console_script_on_the_staged_files(project: Path):
    hooks = yaml.safe_load((REPO_ROOT / ".pre-commit-hooks.yaml").read_text(encoding="utf-8"))
    hook = next(h for h in hooks if h["id"] == "dayshift-review")
    assert hook["language"] == "python" and hook["types"] == ["python"]
    entry = hook["entry"].split()
    assert entry[0] == "dayshift" and entry[1] == "review"
    done = review(project, *entry[2:], "src/app.py", "src/clean.py")  # pre-commit appends the file names
    assert done.returncode == 1 and "src/app.py:10:13: DS101" in done.stdout
