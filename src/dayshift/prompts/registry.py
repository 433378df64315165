"""The prompt registry: every version of every prompt in a list of folders, their labels and history.

    folders    [home, ..., shipped]   a name belongs to the first folder that has a file for it
    files      qa/v1.md, qa/v2.md, qa.v3.yaml, answer.j2 ... (any layout; the name and version are inside)
    refs       qa            the version labelled production, else the highest
               qa@3, qa@v3   a version
               qa@candidate  a label (labels.yaml in the home folder)

The home folder (the first) is the one written to: labels.yaml and the log
.registry.jsonl (dayshift.prompts.store). The registry also logs each version
the first time it sees it, and again when that version's file changes, so
history exists where git does not; a read-only folder is simply not logged.
Left out: deleting labels, and prompts that span folders (a name is one folder's).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dayshift.answer.prompts import SHIPPED_PROMPTS, PromptTemplate, parse_template, read_prompt_text
from dayshift.errors import ConfigError
from dayshift.prompts import store
from dayshift.prompts.history import HistoryEntry, prompt_history

if TYPE_CHECKING:
    from dayshift.settings import Settings

PROMPT_SUFFIXES = (".j2", ".md", ".yaml", ".yml")
logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class LoadProblem:
    """A prompt file (or labels.yaml) that cannot be used, and why."""

    path: str
    error: ConfigError


@dataclass(slots=True)
class PromptScan:
    """What the folders hold: name -> version -> template, the folder each name is from, labels, problems."""

    templates: dict[str, dict[int, PromptTemplate]] = field(default_factory=dict)
    folder_of: dict[str, Path] = field(default_factory=dict)
    labels: store.Labels = field(default_factory=dict)
    problems: list[LoadProblem] = field(default_factory=list)


def prompt_files(folder: Path) -> list[Path]:
    """The files of `folder` (recursively) that may be prompts: not hidden, not labels.yaml."""
    found = []
    for path in folder.rglob("*"):
        relative = path.relative_to(folder)
        if path.suffix in PROMPT_SUFFIXES and not any(part.startswith(".") for part in relative.parts) \
                and relative != Path(store.LABELS_FILE) and path.is_file():
            found.append(path)
    return sorted(found)


def load_file(path: Path) -> PromptTemplate | None:
    """The prompt in `path`; None for Markdown without front matter (a README beside the prompts)."""
    text = read_prompt_text(path)
    if path.suffix == ".md" and not text.removeprefix("\ufeff").startswith("---"):
        return None
    return parse_template(text, path=str(path))


class PromptRegistry:
    def __init__(self, folders: Sequence[Path]) -> None:
        if not folders:
            raise ConfigError("a prompt registry needs at least one folder")
        self.folders = tuple(Path(f) for f in folders)
        self._scan: PromptScan | None = None

    @classmethod
    def from_settings(cls, settings: Settings) -> PromptRegistry:
        """answer.prompt_dir (when set) as the home folder, then the prompts shipped with dayshift."""
        prompt_dir = settings.answer.prompt_dir
        return cls([prompt_dir, SHIPPED_PROMPTS] if prompt_dir else [SHIPPED_PROMPTS])

    @property
    def home(self) -> Path:
        return self.folders[0]

    @property
    def writable(self) -> bool:
        """Whether labels and the log can be kept: the home folder exists and is not the shipped one."""
        return self.home.is_dir() and self.home.resolve() != SHIPPED_PROMPTS.resolve()

    # -- reading --------------------------------------------------------------------------------

    def scan(self) -> PromptScan:
        """Everything the folders hold, problems included (what `lint` reports); read once, then kept."""
        if self._scan is None:
            self._scan = self._read()
            self._log_versions(self._scan)
        return self._scan

    def _loaded(self) -> PromptScan:
        scan = self.scan()
        if scan.problems:
            more = f" (and {len(scan.problems) - 1} more: run `dayshift prompts lint`)" if len(scan.problems) > 1 else ""
            raise ConfigError(f"{scan.problems[0].error}{more}")
        return scan

    def names(self) -> list[str]:
        return sorted(self._loaded().templates)

    def versions(self, name: str) -> list[PromptTemplate]:
        """Every version of `name`, ascending."""
        by_version = self._versions(name)
        return [by_version[v] for v in sorted(by_version)]

    def labels(self, name: str) -> dict[str, int]:
        return dict(self._loaded().labels.get(name, {}))

    def get(self, ref: str) -> PromptTemplate:
        """"qa" (its production label, else its highest version), "qa@3", "qa@v3" or "qa@<label>"."""
        name, at, selector = (part.strip() for part in ref.partition("@"))
        by_version = self._versions(name)
        if at and not selector:
            raise ConfigError(f'prompt ref "{ref}" ends at "@"; write {name}@3, {name}@v3 or {name}@production')
        if not selector:
            if "production" in self.labels(name):
                return self._labelled(name, "production", by_version)
            return by_version[max(by_version)]
        if store.VERSION_REF.fullmatch(selector):
            version = int(selector.removeprefix("v"))
            if version not in by_version:
                raise ConfigError(f'prompt {name} has no version {version}; its versions are {_listed(by_version)}')
            return by_version[version]
        return self._labelled(name, selector, by_version)

    def history(self, name: str) -> list[HistoryEntry]:
        """What happened to `name`, oldest first: from git where its files are committed, else from the log."""
        by_version = self._versions(name)
        log_entries = store.read_log(self.home) if self.home.is_dir() else []
        return prompt_history(
            name, [by_version[v] for v in sorted(by_version)], home=self.home,
            log_entries=[e for e in log_entries if e["name"] == name],
        )

    def _versions(self, name: str) -> dict[int, PromptTemplate]:
        scan = self._loaded()
        if name not in scan.templates:
            known = ", ".join(sorted(scan.templates)) or "none"
            where = ", ".join(str(f) for f in self.folders)
            raise ConfigError(f'no prompt named "{name}" in {where}; the prompts there are: {known}')
        return scan.templates[name]

    def _labelled(self, name: str, label: str, by_version: dict[int, PromptTemplate]) -> PromptTemplate:
        labels = self.labels(name)
        if label not in labels:
            have = ", ".join(f"{k}={v}" for k, v in sorted(labels.items())) or "none"
            raise ConfigError(f'prompt {name} has no label "{label}" (its labels: {have}); '
                              f"set one with `dayshift prompts label {name} {label} VERSION`")
        version = labels[label]
        if version not in by_version:
            raise ConfigError(f"{self.home / store.LABELS_FILE}: {name}@{label} names version {version}, which no "
                              f"file defines (versions: {_listed(by_version)}); move the label or restore the file")
        return by_version[version]

    def _read(self) -> PromptScan:
        scan = PromptScan()
        for folder in self.folders:
            if not folder.is_dir():
                error = ConfigError(f"prompt folder {folder} does not exist; create it or fix answer.prompt_dir "
                                    "(DAYSHIFT_ANSWER__PROMPT_DIR)")
                scan.problems.append(LoadProblem(str(folder), error))
                continue
            for name, by_version in self._read_folder(folder, scan.problems).items():
                if name not in scan.templates:  # an earlier folder's prompt of that name wins
                    scan.templates[name], scan.folder_of[name] = by_version, folder
        try:
            scan.labels = store.read_labels(self.home) if self.home.is_dir() else {}
        except ConfigError as exc:
            scan.problems.append(LoadProblem(str(self.home / store.LABELS_FILE), exc))
        return scan

    @staticmethod
    def _read_folder(folder: Path, problems: list[LoadProblem]) -> dict[str, dict[int, PromptTemplate]]:
        found: dict[str, dict[int, PromptTemplate]] = {}
        for path in prompt_files(folder):
            try:
                template = load_file(path)
            except ConfigError as exc:
                problems.append(LoadProblem(str(path), exc))
                continue
            if template is None:
                continue
            first = found.setdefault(template.name, {}).setdefault(template.version, template)
            if first.content_hash != template.content_hash:
                problems.append(LoadProblem(str(path), ConfigError(
                    f"{first.path} and {path} both define {template.ref} with different content; "
                    "give one of them another version number"
                )))
        return found

    # -- writing --------------------------------------------------------------------------------

    def set_label(self, name: str, label: str, version: int, *, actor: str = "", reason: str = "") -> None:
        """Point `name@label` at `version`: labels.yaml replaced atomically, and the move logged."""
        store.check_label(label)
        by_version = self._versions(name)
        if version not in by_version:
            raise ConfigError(f"prompt {name} has no version {version}; its versions are {_listed(by_version)}")
        self._require_writable()
        try:
            with store.locked_log(self.home) as log:
                labels = store.read_labels(self.home)  # again, under the lock: another writer may have moved one
                previous = labels.get(name, {}).get(label)
                if previous != version:
                    labels.setdefault(name, {})[label] = version
                    store.write_labels(self.home, labels)
                    store.append_entries(log, [{
                        "at": _now(), "event": "label", "name": name, "label": label, "version": version,
                        "previous": previous, "actor": actor, "reason": reason,
                    }])
        except OSError as exc:
            raise ConfigError(f"cannot write the labels in {self.home} ({exc}); the label was not moved: "
                              "check that the folder is writable") from exc
        self.scan().labels = labels

    def _require_writable(self) -> None:
        if not self.writable:
            raise ConfigError(
                f"labels are kept in your own prompt folder, not in {self.home}: set answer.prompt_dir "
                "(DAYSHIFT_ANSWER__PROMPT_DIR) to an existing folder in your repository"
            )

    def _log_versions(self, scan: PromptScan) -> None:
        """Log each version the first time it is seen, and again when its file's content changes."""
        if not self.writable:
            return
        try:
            with store.locked_log(self.home) as log:
                last_hash = {(e["name"], e.get("version")): e.get("hash") for e in store.read_log(self.home)
                             if e["event"] in ("seen", "changed")}
                new = []
                for name, by_version in sorted(scan.templates.items()):
                    for version, template in sorted(by_version.items()):
                        known = last_hash.get((name, version))
                        if known != template.content_hash:
                            new.append({"at": _now(), "event": "seen" if known is None else "changed", "name": name,
                                        "version": version, "hash": template.content_hash,
                                        "path": _relative(template.path, self.home)})
                if new:
                    store.append_entries(log, new)
        except OSError as exc:  # a read-only checkout: the prompts still load, unlogged
            logger.debug("prompt registry log not written: %s", exc)


def _listed(by_version: dict[int, Any]) -> str:
    return ", ".join(str(v) for v in sorted(by_version))


def _now() -> str:
    return datetime.now(UTC).isoformat()


def _relative(path: str, folder: Path) -> str:
    try:
        return Path(path).resolve().relative_to(folder.resolve()).as_posix()
    except ValueError:
        return path
