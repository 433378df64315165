"""PromptRegistry.history: in a real git repository (commits per version file, label moves from the commits of
labels.yaml, moves not yet committed from the log), and outside one (the registry log alone)."""

from __future__ import annotations

import itertools
import shutil
from datetime import UTC, datetime
from pathlib import Path

import pytest
from prompt_folder import commit_all, front_matter, git, write

from dayshift.answer.prompts import SHIPPED_PROMPTS
from dayshift.prompts import HistoryEntry, PromptRegistry

pytestmark = pytest.mark.skipif(shutil.which("git") is None, reason="needs git on PATH")


def summary(entries: list[HistoryEntry]) -> list[tuple[object, ...]]:
    return [(e.event, e.version, e.label, e.previous, e.source) for e in entries]


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    git(tmp_path, "init", "-q")
    return tmp_path


def test_git_history_lists_the_commits_of_each_version_file(repo: Path) -> None:
    home = repo / "prompts"
    write(home, "qa/v1.md", front_matter("qa", 1))
    first = commit_all(repo, "qa v1: first answer prompt", date="2025-03-01T09:00:00+00:00")
    write(home, "qa/v2.md", front_matter("qa", 2, description="abstains"))
    second = commit_all(repo, "qa v2: abstain when the sources lack it", date="2025-03-08T10:30:00+00:00")

    history = PromptRegistry([home, SHIPPED_PROMPTS]).history("qa")

    assert [(e.event, e.version, e.commit, e.message) for e in history] == [
        ("commit", 1, first, "qa v1: first answer prompt"),
        ("commit", 2, second, "qa v2: abstain when the sources lack it"),
    ]
    assert history[0].at == datetime(2025, 3, 1, 9, 0, tzinfo=UTC)
    assert {(e.actor, e.source) for e in history} == {("Ana Lyst", "git")}
    assert history[1].path == str(home / "qa/v2.md")


def test_a_file_edited_in_place_credits_each_commit_to_the_version_it_held(repo: Path) -> None:
    write(repo, "answer.j2", front_matter("answer", 1))
    commit_all(repo, "answer v1", date="2025-01-01T00:00:00+00:00")
    write(repo, "answer.j2", front_matter("answer", 2))
    commit_all(repo, "answer v2", date="2025-01-02T00:00:00+00:00")
    write(repo, "answer.j2", front_matter("answer", 2, description="typo"))
    commit_all(repo, "answer v2: typo", date="2025-01-03T00:00:00+00:00")
    history = PromptRegistry([repo]).history("answer")
    assert [(e.version, e.message) for e in history] == [(1, "answer v1"), (2, "answer v2"), (2, "answer v2: typo")]


def test_label_moves_come_from_the_commits_of_labels_yaml_and_from_the_log_after_them(repo: Path) -> None:
    home = repo / "prompts"
    write(home, "qa/v1.md", front_matter("qa", 1))
    write(home, "qa/v2.md", front_matter("qa", 2))
    commit_all(repo, "qa v1 and v2", date="2025-03-01T09:00:00+00:00")
    PromptRegistry([home]).set_label("qa", "production", 1, actor="ana")
    commit_all(repo, "promote qa v1", date="2025-03-02T09:00:00+00:00")
    registry = PromptRegistry([home])
    registry.set_label("qa", "production", 2, actor="bo", reason="eval 7")
    registry.set_label("qa", "candidate", 2, actor="bo")
    commit_all(repo, "qa v2 to production", date="2025-03-03T09:00:00+00:00")
    registry.set_label("qa", "candidate", 1, actor="cy", reason="not committed yet")  # logged now, after the commits

    history = PromptRegistry([home]).history("qa")

    assert summary(history) == [
        ("commit", 1, None, None, "git"), ("commit", 2, None, None, "git"),
        ("label", 1, "production", None, "git"),
        ("label", 2, "candidate", None, "git"), ("label", 2, "production", 1, "git"),
        ("label", 1, "candidate", 2, "registry"),
    ]
    assert [e.message for e in history if e.event == "label"] == [
        "promote qa v1", "qa v2 to production", "qa v2 to production", "not committed yet",
    ]
    assert history[-1].actor == "cy" and history[-1].commit is None


def test_an_uncommitted_version_in_a_repository_shows_when_the_registry_first_saw_it(repo: Path) -> None:
    write(repo, "qa/v1.md", front_matter("qa", 1))
    commit_all(repo, "qa v1", date="2025-03-01T09:00:00+00:00")
    write(repo, "qa/v2.md", front_matter("qa", 2))  # not committed
    history = PromptRegistry([repo]).history("qa")
    assert [(e.event, e.version, e.source) for e in history] == [("commit", 1, "git"), ("seen", 2, "registry")]
    assert history[1].content_hash == PromptRegistry([repo]).get("qa@2").content_hash


def test_without_git_history_is_the_registry_log(tmp_path: Path) -> None:
    home = tmp_path / "prompts"  # pytest's tmp folders are in no repository
    write(home, "qa/v1.md", front_matter("qa", 1))
    PromptRegistry([home]).set_label("qa", "production", 1, actor="ana", reason="first")
    write(home, "qa/v2.md", front_matter("qa", 2))
    registry = PromptRegistry([home])
    registry.set_label("qa", "production", 2, actor="bo", reason="F1 0.61 -> 0.66")
    write(home, "qa/v1.md", front_matter("qa", 1, description="edited after release"))

    history = PromptRegistry([home]).history("qa")

    assert summary(history) == [
        ("seen", 1, None, None, "registry"), ("label", 1, "production", None, "registry"),
        ("seen", 2, None, None, "registry"), ("label", 2, "production", 1, "registry"),
        ("changed", 1, None, None, "registry"),
    ]
    assert [(e.actor, e.message) for e in history if e.event == "label"] == [("ana", "first"),
                                                                             ("bo", "F1 0.61 -> 0.66")]
    assert history[0].path == "qa/v1.md" and history[0].content_hash != history[-1].content_hash
    assert all(a.at <= b.at for a, b in itertools.pairwise(history))


def test_a_renamed_version_file_keeps_its_commits(repo: Path) -> None:
    write(repo, "qa-1.md", front_matter("qa", 1))
    commit_all(repo, "qa v1", date="2025-03-01T09:00:00+00:00")
    (repo / "qa").mkdir()
    git(repo, "mv", "qa-1.md", "qa/v1.md")
    commit_all(repo, "one folder per prompt", date="2025-03-02T09:00:00+00:00")
    history = PromptRegistry([repo]).history("qa")
    assert [(e.version, e.message) for e in history] == [(1, "qa v1"), (1, "one folder per prompt")]


def test_in_a_repository_but_without_git_on_path_history_is_the_log(repo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write(repo, "qa/v1.md", front_matter("qa", 1))
    commit_all(repo, "qa v1", date="2025-03-01T09:00:00+00:00")
    monkeypatch.setenv("PATH", str(repo / "no-such-bin"))
    registry = PromptRegistry([repo])
    registry.set_label("qa", "production", 1, actor="ana")
    assert summary(registry.history("qa")) == [("seen", 1, None, None, "registry"),
                                               ("label", 1, "production", None, "registry")]
