"""PromptRegistry over real folders: what it finds, how refs resolve (version, label, default), the errors that
name what exists, duplicate versions, folder order, and set_label (atomic labels.yaml, logged, locked)."""

from __future__ import annotations

import json
import os
import threading
from pathlib import Path

import pytest
import yaml
from prompt_folder import YAML_QA_V3, front_matter, write

import dayshift.prompts
from dayshift.answer.prompts import SHIPPED_PROMPTS
from dayshift.errors import ConfigError
from dayshift.prompts import PromptRegistry
from dayshift.settings import Settings


@pytest.fixture
def home(tmp_path: Path) -> Path:
    folder = tmp_path / "prompts"
    write(folder, "qa/v1.md", front_matter("qa", 1, params={"max_tokens": 100}))
    write(folder, "qa/v2.md", front_matter("qa", 2, model="gpt-4o-mini"))
    write(folder, "qa.v3.yaml", YAML_QA_V3)
    write(folder, "summary.j2", front_matter("summary", 1))
    write(folder, "README.md", "# Prompts\n\nOne file per version.\n")
    write(folder, ".drafts/qa.md", front_matter("qa", 9))  # hidden: not read
    return folder


def registry(home: Path) -> PromptRegistry:
    return PromptRegistry([home, SHIPPED_PROMPTS])


def test_names_and_versions_across_formats_and_folders(home: Path) -> None:
    reg = registry(home)
    assert reg.names() == ["agent", "answer", "answer-json", "qa", "summary"]  # agent, answer and answer-json are shipped
    assert [t.version for t in reg.versions("qa")] == [1, 2, 3]
    assert [Path(t.path).name for t in reg.versions("qa")] == ["v1.md", "v2.md", "qa.v3.yaml"]
    assert reg.versions("answer")[0].path == str(SHIPPED_PROMPTS / "answer.j2")


def test_get_by_version_label_and_default(home: Path) -> None:
    reg = registry(home)
    assert reg.get("qa").version == 3  # no production label: the highest version
    assert reg.get("qa@1").params == {"max_tokens": 100}
    assert reg.get("qa@v2").model == "gpt-4o-mini"
    assert reg.get(" qa @ v3 ").version == 3
    write(home, "labels.yaml", "qa: {production: 2, candidate: 3}\n")
    reg = registry(home)
    assert reg.labels("qa") == {"production": 2, "candidate": 3}
    assert reg.labels("summary") == {}
    assert reg.get("qa").version == 2  # the production label wins over the highest version
    assert reg.get("qa@production").ref == "qa@v2"
    assert reg.get("qa@candidate").ref == "qa@v3"


@pytest.mark.parametrize(
    ("ref", "message"),
    [
        ("nope", 'no prompt named "nope" in .*; the prompts there are: agent, answer, answer-json, qa, summary'),
        ("qa@7", "prompt qa has no version 7; its versions are 1, 2, 3"),
        ("qa@v0", "prompt qa has no version 0; its versions are 1, 2, 3"),
        ("qa@staging", r'prompt qa has no label "staging" \(its labels: candidate=3, production=2\)'),
        ("qa@", 'prompt ref "qa@" ends at "@"'),
    ],
)
def test_unknown_refs_name_what_exists(home: Path, ref: str, message: str) -> None:
    write(home, "labels.yaml", "qa: {production: 2, candidate: 3}\n")
    with pytest.raises(ConfigError, match=message):
        registry(home).get(ref)


def test_a_label_naming_a_missing_version_is_an_error_naming_labels_yaml(home: Path) -> None:
    write(home, "labels.yaml", "qa: {production: 8}\n")
    with pytest.raises(ConfigError, match=r"labels\.yaml: qa@production names version 8, which no file defines"):
        registry(home).get("qa")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("qa: [1, 2]\n", "the labels of 'qa' must be a mapping"),
        ("qa: {production: two}\n", "qa@production must name a version number"),
        ("qa: {v2: 2}\n", 'label "v2" is not a label name'),
        ("- qa\n", "must map each prompt name to its labels"),
        ("qa: {production: [2\n", "unreadable YAML"),
    ],
)
def test_a_broken_labels_file_fails_loudly(home: Path, text: str, message: str) -> None:
    write(home, "labels.yaml", text)
    with pytest.raises(ConfigError, match=message) as caught:
        registry(home).names()
    assert str(home / "labels.yaml") in str(caught.value)


def test_two_files_with_one_version_and_different_content_is_an_error_naming_both(home: Path) -> None:
    write(home, "old/qa-2.md", front_matter("qa", 2, description="edited copy"))
    with pytest.raises(ConfigError) as caught:
        registry(home).get("qa@1")
    message = str(caught.value)
    assert str(home / "old/qa-2.md") in message and str(home / "qa/v2.md") in message
    assert "both define qa@v2 with different content" in message


def test_an_identical_copy_of_a_version_is_not_a_conflict(home: Path) -> None:
    write(home, "copy/v2.md", (home / "qa/v2.md").read_text())
    assert [t.version for t in registry(home).versions("qa")] == [1, 2, 3]


def test_a_broken_file_fails_every_lookup_rather_than_being_skipped(home: Path) -> None:
    write(home, "qa/v4.md", "---\nname: qa\nversion: 4\n---\nno role line\n")
    with pytest.raises(ConfigError, match=r"qa/v4\.md: text before the first"):
        registry(home).get("qa@1")


def test_a_name_belongs_to_the_first_folder_that_has_it(home: Path) -> None:
    write(home, "answer.j2", front_matter("answer", 1))  # lower than the shipped v2, yet it is the user's answer
    reg = registry(home)
    assert [t.version for t in reg.versions("answer")] == [1]
    assert reg.get("answer").path == str(home / "answer.j2")


def test_a_missing_folder_is_an_error_naming_the_setting(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="prompt folder .*missing does not exist.*DAYSHIFT_ANSWER__PROMPT_DIR"):
        PromptRegistry([tmp_path / "missing", SHIPPED_PROMPTS]).names()


def test_from_settings_searches_prompt_dir_then_the_shipped_prompts(home: Path) -> None:
    with_dir = PromptRegistry.from_settings(Settings(answer={"prompt_dir": home}))
    assert with_dir.folders == (home, SHIPPED_PROMPTS) and with_dir.home == home
    assert PromptRegistry.from_settings(Settings()).folders == (SHIPPED_PROMPTS,)
    assert PromptRegistry.from_settings(Settings()).get("answer").ref == "answer@v3"  # the highest shipped version


# -- set_label ----------------------------------------------------------------------------------


def log_lines(home: Path) -> list[dict[str, object]]:
    return [json.loads(line) for line in (home / ".registry.jsonl").read_text().splitlines()]


def test_set_label_rewrites_labels_yaml_and_logs_the_move(home: Path) -> None:
    reg = registry(home)
    reg.set_label("qa", "production", 2, actor="ana", reason="eval 14: F1 +0.04")
    reg.set_label("qa", "production", 3, actor="bo", reason="eval 15")
    reg.set_label("summary", "candidate", 1)
    assert yaml.safe_load((home / "labels.yaml").read_text()) == {"qa": {"production": 3}, "summary": {"candidate": 1}}
    assert reg.get("qa").version == 3  # this registry sees its own move
    assert registry(home).get("qa@production").version == 3  # and so does a new one
    moves = [e for e in log_lines(home) if e["event"] == "label"]
    assert [(e["name"], e["label"], e["previous"], e["version"], e["actor"], e["reason"]) for e in moves] == [
        ("qa", "production", None, 2, "ana", "eval 14: F1 +0.04"),
        ("qa", "production", 2, 3, "bo", "eval 15"),
        ("summary", "candidate", None, 1, "", ""),
    ]
    reg.set_label("qa", "production", 3)  # no move: nothing written
    assert len([e for e in log_lines(home) if e["event"] == "label"]) == 3


def test_set_label_keeps_labels_written_by_someone_else_meanwhile(home: Path) -> None:
    reg = registry(home)
    reg.names()
    write(home, "labels.yaml", "summary: {production: 1}\n")  # a teammate's change, after this registry read
    reg.set_label("qa", "candidate", 3)
    assert yaml.safe_load((home / "labels.yaml").read_text()) == {"qa": {"candidate": 3}, "summary": {"production": 1}}


@pytest.mark.parametrize(
    ("name", "label", "version", "message"),
    [
        ("qa", "production", 9, "prompt qa has no version 9"),
        ("nope", "production", 1, 'no prompt named "nope"'),
        ("qa", "v3", 3, 'label "v3" is not a label name'),
        ("qa", "prod uction", 3, "is not a label name"),
    ],
)
def test_set_label_refuses_what_it_cannot_resolve(home: Path, name: str, label: str, version: int, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        registry(home).set_label(name, label, version)
    assert not (home / "labels.yaml").exists()


def test_set_label_never_writes_into_the_shipped_prompts() -> None:
    with pytest.raises(ConfigError, match="set answer.prompt_dir"):
        PromptRegistry([SHIPPED_PROMPTS]).set_label("answer", "production", 2)
    assert sorted(p.name for p in SHIPPED_PROMPTS.iterdir()) == ["agent.j2", "answer-json.j2", "answer.j2", "answer.v3.j2"]


def test_a_failed_write_leaves_the_old_labels_file_and_no_temp_file(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    reg = registry(home)
    reg.set_label("qa", "production", 2)
    before = (home / "labels.yaml").read_bytes()

    def crash(src: str, dst: str) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", crash)
    with pytest.raises(ConfigError, match=r"cannot write the labels in .*\(disk full\); the label was not moved"):
        reg.set_label("qa", "production", 3)
    assert (home / "labels.yaml").read_bytes() == before
    assert [p.name for p in home.iterdir() if p.name.startswith(".labels")] == []
    assert [e["version"] for e in log_lines(home) if e["event"] == "label"] == [2]  # the failed move is not logged


def test_concurrent_writers_lose_no_label_and_readers_never_see_half_a_file(home: Path) -> None:
    labels = [f"l{i}" for i in range(6)]
    stop, seen_bad = threading.Event(), []

    def read_forever() -> None:
        while not stop.is_set():
            if not (home / "labels.yaml").exists():  # not yet written
                continue
            try:
                assert isinstance(yaml.safe_load((home / "labels.yaml").read_text())["qa"], dict)
            except Exception as exc:  # noqa: BLE001 - any failure is what this test looks for
                seen_bad.append(exc)

    def write_labels(label: str) -> None:
        reg = registry(home)  # each writer its own registry, as separate processes would have
        for version in (1, 2, 3, 1, 2, 3):
            reg.set_label("qa", label, version)

    reader = threading.Thread(target=read_forever)
    reader.start()
    writers = [threading.Thread(target=write_labels, args=(label,)) for label in labels]
    for t in writers:
        t.start()
    for t in writers:
        t.join()
    stop.set()
    reader.join()
    assert seen_bad == []
    assert yaml.safe_load((home / "labels.yaml").read_text()) == {"qa": dict.fromkeys(labels, 3)}
    assert len([e for e in log_lines(home) if e["event"] == "label"]) == 6 * 6


# -- the log of versions seen --------------------------------------------------------------------


def test_each_version_is_logged_once_when_first_seen_and_again_when_its_file_changes(home: Path) -> None:
    registry(home).names()
    registry(home).names()
    seen = [(e["name"], e["version"], e["event"], e["path"]) for e in log_lines(home)]
    assert seen == [("agent", 1, "seen", str(SHIPPED_PROMPTS / "agent.j2")),
                    ("answer", 2, "seen", str(SHIPPED_PROMPTS / "answer.j2")),
                    ("answer", 3, "seen", str(SHIPPED_PROMPTS / "answer.v3.j2")),
                    ("answer-json", 1, "seen", str(SHIPPED_PROMPTS / "answer-json.j2")), ("qa", 1, "seen", "qa/v1.md"),
                    ("qa", 2, "seen", "qa/v2.md"), ("qa", 3, "seen", "qa.v3.yaml"), ("summary", 1, "seen", "summary.j2")]
    write(home, "qa/v2.md", front_matter("qa", 2, description="edited in place"))
    registry(home).names()
    last = log_lines(home)[-1]
    assert (last["event"], last["name"], last["version"]) == ("changed", "qa", 2)
    assert last["hash"] == registry(home).get("qa@2").content_hash


def test_a_registry_over_the_shipped_prompts_alone_writes_nothing() -> None:
    before = sorted(p.name for p in SHIPPED_PROMPTS.iterdir())
    PromptRegistry([SHIPPED_PROMPTS]).names()
    assert sorted(p.name for p in SHIPPED_PROMPTS.iterdir()) == before


def test_the_public_api_is_pinned() -> None:
    assert dayshift.prompts.__all__ == ["HistoryEntry", "LintContext", "LintFinding", "PromptDiff", "PromptRegistry",
                                        "diff_prompts", "lint_registry", "lint_template"]
