"""A prompt's history: from git where its files are committed, from the registry log where they are not.

    commit    a commit that touched a version's file      (git log --follow of that file)
    label     a label moved                                (commits of labels.yaml, each compared with the one
                                                            before; plus moves logged since its last commit)
    seen      the registry first read a version            (the log; shown for files git does not track)
    changed   the registry read other content for a version already seen   (the log, likewise)

Git is asked through its command line; without git, or outside a repository,
every entry comes from the log. Left out: uncommitted edits to a committed file.
"""

from __future__ import annotations

import subprocess
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Literal

from dayshift.answer.prompts import PromptTemplate, parse_template
from dayshift.errors import ConfigError
from dayshift.prompts import store

Event = Literal["commit", "label", "seen", "changed"]
_FIELDS = "%H%x1f%aI%x1f%an%x1f%cI%x1f%s"  # commit, author date, author, committer date, subject


@dataclass(frozen=True, slots=True)
class HistoryEntry:
    at: datetime  # timezone-aware: the author date of a commit, or when the registry logged it
    event: Event
    name: str
    version: int | None  # the file's version; for a label move, the version it now names (None: label removed)
    actor: str = ""  # the commit's author, or who moved the label
    message: str = ""  # the commit's subject, or the reason given for a label move
    source: Literal["git", "registry"] = "registry"
    commit: str | None = None  # full hash, for entries read from git
    label: str | None = None  # label moves
    previous: int | None = None  # label moves: the version the label named before (None: a new label)
    content_hash: str | None = None  # seen / changed: sha256 of the file
    path: str | None = None  # the version's file


@dataclass(frozen=True, slots=True)
class _Commit:
    sha: str
    at: datetime
    author: str
    committed_at: datetime
    subject: str
    path: str = ""  # the file's path from the repository's root in that commit (it may have been renamed)


def prompt_history(
    name: str, versions: Sequence[PromptTemplate], *, home: Path, log_entries: Sequence[dict[str, Any]]
) -> list[HistoryEntry]:
    entries: list[HistoryEntry] = []
    for template in versions:
        for commit in _file_commits(Path(template.path)):
            # A file edited in place (answer.j2, version bumped) held other versions before: ask each commit's copy.
            version = _version_at(commit, Path(template.path)) or template.version
            entries.append(HistoryEntry(at=commit.at, event="commit", name=name, version=version, actor=commit.author,
                                        message=commit.subject, source="git", commit=commit.sha, path=template.path))
    in_git = {e.version for e in entries}
    entries += [_from_log(e) for e in log_entries if e["event"] in ("seen", "changed") and e.get("version") not in in_git]
    label_commits = _file_commits(home / store.LABELS_FILE, follow=False) if home.is_dir() else []
    moves, committed = _label_moves_in_git(name, label_commits, home=home)
    last_commit_at = label_commits[-1].committed_at if label_commits else None
    entries += moves + [_from_log(e) for e in _uncommitted(log_entries, committed, last_commit_at)]
    return sorted(entries, key=lambda e: e.at)


def _uncommitted(
    log_entries: Sequence[dict[str, Any]], committed: dict[str, int], last_commit_at: datetime | None
) -> list[dict[str, Any]]:
    """The logged label moves not in git yet. Replaying the log: those after the last point where it matches
    the committed labels (all of them when none are committed); where it never does (labels.yaml was edited
    by hand), those logged after its last commit (git dates are whole seconds)."""
    moves = [e for e in log_entries if e["event"] == "label"]
    state: dict[str, int] = {}
    after = 0 if not committed else None
    for i, move in enumerate(moves, start=1):
        state[move.get("label", "")] = move.get("version", 0)
        if state == committed:
            after = i
    if after is not None:
        return moves[after:]
    return [e for e in moves if last_commit_at is None or _when(e["at"]).replace(microsecond=0) > last_commit_at]


def _version_at(commit: _Commit, path: Path) -> int | None:
    text = _git(path.parent, "show", f"{commit.sha}:{commit.path}") if commit.path else None
    if text is None:
        return None
    try:
        return parse_template(text, path=commit.path).version
    except ConfigError:
        return None


def _from_log(entry: dict[str, Any]) -> HistoryEntry:
    return HistoryEntry(
        at=_when(entry["at"]), event=entry["event"], name=entry["name"], version=entry.get("version"),
        actor=entry.get("actor", ""), message=entry.get("reason", ""), label=entry.get("label"),
        previous=entry.get("previous"), content_hash=entry.get("hash"), path=entry.get("path"),
    )


def _label_moves_in_git(
    name: str, commits: Sequence[_Commit], *, home: Path
) -> tuple[list[HistoryEntry], dict[str, int]]:
    """The moves of `name`'s labels commit by commit, and its labels as last committed."""
    moves: list[HistoryEntry] = []
    before: dict[str, int] = {}
    for commit in commits:
        text = _git(home, "show", f"{commit.sha}:./{store.LABELS_FILE}")
        if text is None:
            continue
        try:
            now = store.parse_labels(text, where=f"{store.LABELS_FILE} at {commit.sha[:12]}").get(name, {})
        except ConfigError:
            continue  # a broken labels.yaml in some old commit: its moves show at the next good one
        for label in sorted(before.keys() | now.keys()):
            if before.get(label) != now.get(label):
                moves.append(HistoryEntry(
                    at=commit.at, event="label", name=name, version=now.get(label), actor=commit.author,
                    message=commit.subject, source="git", commit=commit.sha, label=label, previous=before.get(label),
                ))
        before = now
    return moves, before


def _file_commits(path: Path, *, follow: bool = True) -> list[_Commit]:
    """Commits that touched `path`, oldest first; [] outside git or for a file git does not track."""
    if not path.parent.is_dir():
        return []
    args = ["log", f"--format=\x1e{_FIELDS}", "--name-status", *(["--follow"] if follow else []), "--", path.name]
    commits = []
    for record in (_git(path.parent, *args) or "").split("\x1e")[1:]:
        header, *changes = [line for line in record.splitlines() if line.strip()]
        sha, at, author, committed_at, subject = header.split("\x1f", 4)
        status, *paths = changes[0].split("\t") if changes else ("", "")
        commits.append(_Commit(sha, _when(at), author, _when(committed_at), subject, paths[-1] if paths else ""))
        if status.startswith("C"):
            break  # --follow takes a new file much like another (qa/v2.md after qa/v1.md) for a copy: stop there
    return commits[::-1]


def _git(cwd: Path, *args: str) -> str | None:
    try:
        done = subprocess.run(["git", "-C", str(cwd), *args], capture_output=True, text=True, timeout=30,
                              check=False, encoding="utf-8", errors="replace")
    except (OSError, subprocess.TimeoutExpired):  # no git, or a repository too slow to ask
        return None
    return done.stdout if done.returncode == 0 else None


def _when(text: str) -> datetime:
    return datetime.fromisoformat(text)
