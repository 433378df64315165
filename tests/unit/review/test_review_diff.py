"""--diff against a real temporary git repository: only changed lines are reported."""

import shutil
import subprocess
from pathlib import Path

import pytest

from dayshift.errors import ConfigError
from dayshift.review import ReviewConfig, review_paths
from dayshift.review.diff import changed_lines, parse_unified_diff

if shutil.which("git") is None:
    pytest.skip("git is not installed", allow_module_level=True)

BEFORE = '''import requests


def old(url):
    return requests.get(url)


def call(url):
    return requests.post(
        url,
        json={},
    )
'''


def git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=repo, check=True, capture_output=True, text=True,
                          env={"GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.org", "GIT_COMMITTER_NAME": "t",
                               "GIT_COMMITTER_EMAIL": "t@example.org", "PATH": "/usr/bin:/bin",
                               "HOME": str(repo)}).stdout


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    git(tmp_path, "init", "-q", "-b", "main")
    (tmp_path / "svc.py").write_text(BEFORE, encoding="utf-8")
    (tmp_path / "untouched.py").write_text("import requests\nrequests.get('x')\n", encoding="utf-8")
    git(tmp_path, "add", ".")
    git(tmp_path, "commit", "-q", "-m", "base")
    git(tmp_path, "checkout", "-q", "-b", "feature")
    return tmp_path


def test_only_findings_on_changed_lines_are_kept(repo: Path):
    text = BEFORE.replace("        json={},\n", "        json={'a': 1},\n")  # one argument of a multi-line call
    text += "\n\ndef new(url):\n    return requests.delete(url)\n"
    (repo / "svc.py").write_text(text, encoding="utf-8")
    git(repo, "commit", "-qam", "feature work")
    (repo / "fresh.py").write_text("import requests\nrequests.head('x')\n", encoding="utf-8")  # untracked
    changed = changed_lines("main", repo)
    assert changed[(repo / "svc.py").resolve()] == {11, 13, 14, 15, 16}
    assert changed[(repo / "fresh.py").resolve()] == {1, 2, 3}
    report = review_paths([repo], config=ReviewConfig(root=repo), changed=changed, root=repo)
    assert sorted((f.path, f.line) for f in report.findings) == [("fresh.py", 2), ("svc.py", 9), ("svc.py", 16)]


def test_a_base_that_does_not_exist_is_a_clear_error(repo: Path):
    with pytest.raises(ConfigError, match='unknown git revision "origin/nope"'):
        changed_lines("origin/nope", repo)


def test_outside_a_repository_is_a_clear_error(tmp_path: Path):
    with pytest.raises(ConfigError, match="needs a git repository"):
        changed_lines("main", tmp_path)


def test_the_unified_diff_parser_reads_new_side_ranges(tmp_path: Path):
    text = ("diff --git a/x.py b/x.py\n--- a/x.py\n+++ b/x.py\n@@ -3,0 +4,2 @@\n+a\n+b\n@@ -9 +11 @@\n-c\n+d\n"
            "diff --git a/gone.py b/gone.py\n--- a/gone.py\n+++ /dev/null\n@@ -1 +0,0 @@\n-x\n")
    assert parse_unified_diff(text, tmp_path) == {(tmp_path / "x.py").resolve(): {4, 5, 11}}
