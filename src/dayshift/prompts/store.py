"""The two files the registry keeps in the home prompt folder: labels.yaml and the append-only .registry.jsonl.

    labels.yaml          {qa: {production: 2, candidate: 3}}     which version each label names
    .registry.jsonl      one JSON object a line, never rewritten:
      {"at": "2025-05-01T09:00:00+00:00", "event": "seen", "name": "qa", "version": 3, "hash": "<sha256>", "path": "qa/v3.md"}
      {"at": ..., "event": "changed", ...}   the same version's file with other content
      {"at": ..., "event": "label", "name": "qa", "label": "production", "version": 3, "previous": 2,
       "actor": "ana", "reason": "F1 +0.04 on the release set"}

labels.yaml is replaced whole (temp file + rename), so a reader sees the old
file or the new one, never half of one; writers take an exclusive lock on the
log first. Left out: locking on systems without fcntl (Windows): one writer at a time there.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml

from dayshift.errors import ConfigError

LABELS_FILE = "labels.yaml"
LOG_FILE = ".registry.jsonl"
_LABEL = re.compile(r"[A-Za-z][A-Za-z0-9_.-]*")
VERSION_REF = re.compile(r"v?\d+")

Labels = dict[str, dict[str, int]]  # name -> label -> version


def check_label(label: str) -> None:
    if not _LABEL.fullmatch(label) or VERSION_REF.fullmatch(label):
        raise ConfigError(f'label "{label}" is not a label name: use a word such as production or candidate '
                          "(letters, digits, '.', '_', '-'; not a version such as v3)")


def parse_labels(text: str, *, where: str) -> Labels:
    """labels.yaml's text as {name: {label: version}}; anything else is a ConfigError naming `where`."""
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigError(f"{where}: unreadable YAML ({exc}); it maps each prompt to its labels") from exc
    if data is None:
        return {}
    shape = "{qa: {production: 2, candidate: 3}}"
    if not isinstance(data, dict):
        raise ConfigError(f"{where}: must map each prompt name to its labels, e.g. {shape}")
    labels: Labels = {}
    for name, entries in data.items():
        if not isinstance(entries, dict):
            raise ConfigError(f"{where}: the labels of {name!r} must be a mapping of label to version, e.g. {shape}")
        for label, version in entries.items():
            try:
                check_label(str(label))
            except ConfigError as exc:
                raise ConfigError(f"{where}: {exc}") from exc
            if not isinstance(version, int) or isinstance(version, bool) or version < 1:
                raise ConfigError(f"{where}: {name}@{label} must name a version number, got {version!r}")
        labels[str(name)] = {str(label): version for label, version in entries.items()}
    return labels


def read_labels(folder: Path) -> Labels:
    path = folder / LABELS_FILE
    if not path.is_file():
        return {}
    return parse_labels(path.read_text(encoding="utf-8"), where=str(path))


def write_labels(folder: Path, labels: Labels) -> None:
    """Replace labels.yaml atomically: a complete temp file beside it, fsynced, then renamed over it."""
    text = ("# Which version of each prompt a label names. A change here is a promotion: review it like code.\n"
            + yaml.safe_dump({name: dict(sorted(v.items())) for name, v in sorted(labels.items()) if v},
                             sort_keys=False, default_flow_style=False))
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=".labels.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, folder / LABELS_FILE)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


@contextlib.contextmanager
def locked_log(folder: Path) -> Iterator[Any]:
    """The log opened for appending, under an exclusive lock held until the block ends."""
    with open(folder / LOG_FILE, "a", encoding="utf-8") as log:
        try:
            import fcntl
        except ImportError:  # pragma: no cover - Windows
            yield log
            return
        fcntl.flock(log.fileno(), fcntl.LOCK_EX)
        try:
            yield log
        finally:
            fcntl.flock(log.fileno(), fcntl.LOCK_UN)


def append_entries(log: Any, entries: list[dict[str, Any]]) -> None:
    log.write("".join(json.dumps(e, ensure_ascii=False) + "\n" for e in entries))
    log.flush()
    os.fsync(log.fileno())


def read_log(folder: Path) -> list[dict[str, Any]]:
    """Every entry of the log, oldest first; a line that is not a JSON object (a bad merge) is skipped."""
    path = folder / LOG_FILE
    if not path.is_file():
        return []
    entries = []
    for line in path.read_text(encoding="utf-8").split("\n"):
        with contextlib.suppress(ValueError):
            entry = json.loads(line)
            if isinstance(entry, dict) and {"at", "event", "name"} <= entry.keys():
                entries.append(entry)
    return entries
