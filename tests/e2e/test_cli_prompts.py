"""`dayshift prompts list|show|diff|history|label|lint` over a prompt folder in a real git repository.

Most commands run through the real `dayshift` Typer app in this process (CliRunner), from a folder with no
dayshift.toml and no DAYSHIFT_* variables; the exit codes of errors are checked on the console script itself.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml
from cli_runner import run
from click.testing import Result
from typer.testing import CliRunner

from dayshift.cli.main import app

pytestmark = pytest.mark.skipif(shutil.which("git") is None, reason="needs git on PATH")

GOOD_BODY = """[system]
Answer only from the numbered sources and cite each one you use as [n].
If the sources do not contain the answer, say that you don't know.
[user]
{% for s in sources %}[{{ s.n }}] {{ s.title }}: {{ s.text }}
{% endfor %}Question: {{ question }}
"""
QA_V2_YAML = """name: qa
version: 2
model: smollm2-135m-instruct
params:
  max_tokens: 160
  temperature: 0
messages:
  - role: system
    content: |
      Answer only from the numbered sources; cite each source you use as [n].
      If the sources do not contain the answer, say "I don't know".
  - role: user
    content: |
      {% for s in sources %}[{{ s.n }}] {{ s.text }}
      {% endfor %}Question: {{ question }}
"""
GIT_ENV = {"GIT_AUTHOR_NAME": "Ana Lyst", "GIT_AUTHOR_EMAIL": "ana@example.com", "GIT_COMMITTER_NAME": "Ana Lyst",
           "GIT_COMMITTER_EMAIL": "ana@example.com", "GIT_CONFIG_GLOBAL": os.devnull, "GIT_CONFIG_SYSTEM": os.devnull}


def front_matter(name: str, version: int, body: str = GOOD_BODY, **meta: object) -> str:
    return f"---\n{yaml.safe_dump({'name': name, 'version': version, **meta}, sort_keys=False)}---\n{body}"


def write(folder: Path, relative: str, text: str) -> None:
    (folder / relative).parent.mkdir(parents=True, exist_ok=True)
    (folder / relative).write_text(text, encoding="utf-8")


def git(repo: Path, *args: str, date: str | None = None) -> str:
    env = {**os.environ, **GIT_ENV, **({"GIT_AUTHOR_DATE": date, "GIT_COMMITTER_DATE": date} if date else {})}
    return subprocess.run(["git", "-C", str(repo), *args], env=env, capture_output=True, text=True, check=True).stdout


def commit_all(repo: Path, message: str, *, date: str) -> None:
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", message, date=date)


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)  # no dayshift.toml of the checkout's
    git(tmp_path, "init", "-q")
    folder = tmp_path / "prompts"
    write(folder, "qa/v1.md", front_matter("qa", 1, model="smollm2-135m-instruct", params={"max_tokens": 100}))
    commit_all(tmp_path, "qa v1", date="2025-03-01T09:00:00+00:00")
    write(folder, "qa.v2.yaml", QA_V2_YAML)
    write(folder, "labels.yaml", "qa: {production: 1, candidate: 2}\n")
    commit_all(tmp_path, "qa v2 as candidate", date="2025-03-02T09:00:00+00:00")
    return folder


def invoke(home: Path, *args: str) -> Result:
    env = {k: None for k in os.environ if k.startswith("DAYSHIFT_")} | {"COLUMNS": "200", "NO_COLOR": "1"}
    return CliRunner().invoke(app, ["--data-dir", str(home.parent / "data"), "prompts", "--dir", str(home), *args],
                              env=env)


def ok(home: Path, *args: str) -> str:
    result = invoke(home, *args)
    assert result.exit_code == 0, result.output
    return result.output


def test_list_shows_versions_labels_and_what_the_bare_name_means(home: Path) -> None:
    lines = {line.split()[0]: line.split() for line in ok(home, "list").splitlines()}
    assert lines["answer"] == ["answer", "v2", "v3", "default", "v3", "labels:", "-"]  # the shipped prompt
    assert lines["qa"] == ["qa", "v1", "v2", "default", "v1", "labels:", "candidate=v2", "production=v1"]
    rows = {row["name"]: row for row in json.loads(ok(home, "list", "--json"))}
    assert rows["qa"] == {"name": "qa", "versions": [1, 2], "labels": {"production": 1, "candidate": 2}, "default": 1,
                          "folder": str(home / "qa")}


def test_show_prints_the_file_and_its_identity(home: Path) -> None:
    out = ok(home, "show", "qa@candidate")
    assert out.startswith(f"qa@v2  {home / 'qa.v2.yaml'}\n")
    assert "  labels: candidate\n" in out and '  params: {"max_tokens": 160, "temperature": 0}' in out
    assert out.endswith((home / "qa.v2.yaml").read_text())
    data = json.loads(ok(home, "show", "qa@1", "--json"))
    assert (data["ref"], data["labels"], data["model"]) == ("qa@v1", ["production"], "smollm2-135m-instruct")
    assert data["content_hash"] == hashlib.sha256((home / "qa/v1.md").read_bytes()).hexdigest()


def test_diff_by_label_shows_the_unified_diff_and_the_changed_params(home: Path) -> None:
    out = ok(home, "diff", "qa@production", "qa@candidate")
    assert f"--- qa@v1 {home / 'qa/v1.md'}\n+++ qa@v2 {home / 'qa.v2.yaml'}\n@@ " in out
    assert "-version: 1\n" in out and "+version: 2\n" in out and "+messages:\n" in out
    assert out.rstrip().splitlines()[-2:] == ["changed params.max_tokens: 100 -> 160",
                                              "changed params.temperature: (unset) -> 0"]
    assert ok(home, "diff", "qa@1", "qa@v1") == "qa@v1 and qa@v1 are the same file content\n"


def test_history_shows_both_commits_then_label_moves(home: Path) -> None:
    ok(home, "label", "qa", "production", "v2", "--reason", "F1 0.61 -> 0.66", "--actor", "bo")
    lines = ok(home, "history", "qa").splitlines()
    assert [line.split("  ", 1)[1] for line in lines] == [
        "v1 commit " + git(home.parent, "rev-list", "--max-count=1", "HEAD~1").strip()[:10] + "  Ana Lyst  qa v1",
        "v2 commit " + git(home.parent, "rev-parse", "HEAD").strip()[:10] + "  Ana Lyst  qa v2 as candidate",
        "label candidate: v2  Ana Lyst  qa v2 as candidate  (" + git(home.parent, "rev-parse", "HEAD").strip()[:10] + ")",
        "label production: v1  Ana Lyst  qa v2 as candidate  (" + git(home.parent, "rev-parse", "HEAD").strip()[:10] + ")",
        "label production: v1 -> v2  bo  F1 0.61 -> 0.66",
    ]
    entries = json.loads(ok(home, "history", "qa", "--json"))
    assert [(e["event"], e["source"]) for e in entries][-1] == ("label", "registry")


def test_label_moves_a_label_in_labels_yaml(home: Path) -> None:
    assert ok(home, "label", "qa", "production", "2") == f"qa@production: v1 -> v2 (in {home / 'labels.yaml'})\n"
    assert yaml.safe_load((home / "labels.yaml").read_text()) == {"qa": {"candidate": 2, "production": 2}}
    assert ok(home, "show", "qa").startswith("qa@v2 ")
    result = invoke(home, "label", "qa", "production", "two")
    assert result.exit_code != 0 and "not a version number" in str(result.exception)


def test_lint_passes_a_good_folder_and_fails_a_broken_one_with_file_and_line(home: Path) -> None:
    last = ok(home, "lint").splitlines()[-1]  # notes (e.g. an older version written for another model) never fail
    assert last.startswith(f"{home}: 0 error(s), 0 warning(s), ") and last.endswith(" note(s): passed")
    write(home, "qa/v3.md", front_matter("qa", 3, body=GOOD_BODY.replace("{{ question }}", "{{ question }} {{ tone }}")))
    result = invoke(home, "lint")
    assert result.exit_code == 1
    assert f"{home / 'qa/v3.md'}:10: error: undefined variable 'tone'" in result.output
    assert result.output.splitlines()[-1].startswith(f"{home}: 1 error(s), 0 warning(s), ")
    assert result.output.splitlines()[-1].endswith(" note(s): failed")
    findings = json.loads(invoke(home, "lint", "--json").output)
    assert (findings["errors"], findings["passed"]) == (1, False)


def test_lint_of_the_shipped_prompts_passes_strict(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The README's `dayshift prompts lint --strict` on a fresh setup: the shipped production prompt passes."""
    monkeypatch.chdir(tmp_path)
    env = {k: None for k in os.environ if k.startswith("DAYSHIFT_")}
    strict = CliRunner().invoke(app, ["--data-dir", str(tmp_path), "prompts", "lint", "--strict"], env=env)
    assert strict.exit_code == 0, strict.output
    assert " 0 error(s), 0 warning(s), " in strict.output.splitlines()[-1]
    assert "warning:" not in strict.output
    # With the support check off, a prompt without citation and abstention instructions is a warning.
    off = CliRunner().invoke(app, ["--data-dir", str(tmp_path), "prompts", "lint", "--strict"],
                             env={**env, "DAYSHIFT_ANSWER__SUPPORT_CHECK": "false"})
    assert off.exit_code in (0, 1) and ("warning: no instruction" in off.output) == (off.exit_code == 1)


def test_the_console_script_reports_an_unknown_ref_and_exits_2(home: Path) -> None:
    result = run(home.parent / "data", "prompts", "--dir", str(home), "show", "qa@9")
    assert result.returncode == 2
    assert result.stderr.strip() == "error: prompt qa has no version 9; its versions are 1, 2"
    lint = run(home.parent / "data", "prompts", "--dir", str(home), "lint", "--strict")
    assert lint.returncode == 0, lint.stdout + lint.stderr


def test_without_git_history_comes_from_the_registry_log(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    home = tmp_path / "prompts"
    write(home, "qa/v1.md", front_matter("qa", 1))
    ok(home, "label", "qa", "production", "1", "--actor", "ana", "--reason", "first release")
    lines = ok(home, "history", "qa").splitlines()
    assert [line.split("  ", 1)[1] for line in lines][1:] == ["label production: v1  ana  first release"]
    assert lines[0].split("  ", 1)[1].startswith("v1 seen sha256 ")
    outside = subprocess.run(["git", "-C", str(home), "rev-parse"], check=False, capture_output=True)
    assert outside.returncode != 0  # no repository here
