"""Prompt templates as files: Jinja, with a name and a version in front matter.

A template file (`answer.j2`) looks like:

    ---
    name: answer
    version: 3
    description: grounded answer with [n] citations
    ---
    [system]
    You answer from the numbered sources only. ...
    [user]
    {% for s in sources %}[{{ s.n }}] {{ s.text }}
    {% endfor %}Question: {{ question }}

`[system]` / `[user]` / `[assistant]` lines open a message. Variables are
strict: a missing one is an error naming the template, not an empty string.
Templates are looked up in `answer.prompt_dir` first, then in the ones
shipped with dayshift. Left out: template inheritance across files.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import yaml
from jinja2 import Environment, StrictUndefined, TemplateError, UndefinedError

from dayshift.errors import ConfigError
from dayshift.llm.base import Message

_ROLE_LINE = re.compile(r"^\[(system|user|assistant)\]\s*$", re.MULTILINE)
_ENV = Environment(undefined=StrictUndefined, autoescape=False, keep_trailing_newline=False)


@dataclass(frozen=True, slots=True)
class PromptTemplate:
    name: str
    version: int
    description: str
    body: str
    path: str
    # Generation settings that belong to this prompt version: max_tokens, stop, temperature.
    params: dict[str, Any] = field(default_factory=dict)

    @property
    def ref(self) -> str:
        return f"{self.name}@v{self.version}"

    def render(self, **variables: Any) -> tuple[Message, ...]:
        # Roles are split before rendering, so a "[system]" line inside a document
        # or a question stays text and can never open a message of its own.
        messages = []
        for role, section in _split_sections(self.body, where=self.path):
            try:
                content = _ENV.from_string(section).render(**variables)
            except UndefinedError as exc:
                raise ConfigError(f"prompt {self.ref} ({self.path}): {exc}; pass that variable or fix the template") from exc
            except TemplateError as exc:
                raise ConfigError(f"prompt {self.ref} ({self.path}) does not render: {exc}") from exc
            messages.append(Message(role=role, content=content.strip()))  # type: ignore[arg-type]
        return tuple(messages)


def _split_sections(body: str, *, where: str) -> list[tuple[str, str]]:
    parts = _ROLE_LINE.split(body)
    if parts[0].strip():
        raise ConfigError(f"{where}: text before the first [system]/[user] line; start the body with a role line")
    sections = list(zip(parts[1::2], parts[2::2]))
    if not sections:
        raise ConfigError(f"{where}: no [system]/[user]/[assistant] line; add at least a [user] section")
    return sections


def parse_template(text: str, *, path: str) -> PromptTemplate:
    if not text.startswith("---\n"):
        raise ConfigError(f"{path}: a prompt file starts with front matter (---, name:, version:, ---)")
    try:
        header, body = text[4:].split("\n---\n", 1)
        meta = yaml.safe_load(header) or {}
    except (ValueError, yaml.YAMLError) as exc:
        raise ConfigError(f"{path}: unreadable front matter ({exc}); close it with a --- line") from exc
    for key in ("name", "version"):
        if key not in meta:
            raise ConfigError(f"{path}: front matter has no {key!r}; add `{key}: ...`")
    if not isinstance(meta["version"], int) or meta["version"] < 1:
        raise ConfigError(f"{path}: version must be a positive integer, got {meta['version']!r}")
    for _, section in _split_sections(body, where=path):
        try:
            _ENV.parse(section)  # syntax errors surface at load, not at the first question
        except TemplateError as exc:
            raise ConfigError(f"{path}: template syntax error ({exc}); fix the Jinja in that file") from exc
    return PromptTemplate(
        name=str(meta["name"]), version=meta["version"], description=str(meta.get("description", "")),
        body=body, path=path, params=_params(meta.get("params"), path=path),
    )


def _valid_param(key: str, value: Any) -> bool:
    if key == "max_tokens":
        return isinstance(value, int) and not isinstance(value, bool) and value > 0
    if key == "stop":
        return isinstance(value, list) and all(isinstance(v, str) and v for v in value)
    if key == "temperature":
        return isinstance(value, (int, float)) and not isinstance(value, bool) and 0 <= value <= 2
    return False


def _params(raw: Any, *, path: str) -> dict[str, Any]:
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: params must be a mapping (max_tokens, stop, temperature)")
    for key, value in raw.items():
        if key not in ("max_tokens", "stop", "temperature"):
            raise ConfigError(f"{path}: unknown param {key!r}; use max_tokens, stop or temperature")
        if not _valid_param(key, value):
            raise ConfigError(
                f"{path}: param {key}={value!r} is invalid; max_tokens is a positive integer, stop a list of "
                "non-empty strings, temperature a number from 0 to 2"
            )
    return dict(raw)


def load_prompt(name: str, *, prompt_dir: Path | None = None) -> PromptTemplate:
    """The template called `name`: `prompt_dir/name.j2` if present, else the shipped one."""
    if prompt_dir is not None and (prompt_dir / f"{name}.j2").is_file():
        path = prompt_dir / f"{name}.j2"
        return parse_template(path.read_text(encoding="utf-8"), path=str(path))
    shipped = resources.files("dayshift.answer") / "prompts" / f"{name}.j2"
    if not shipped.is_file():
        where = f"{prompt_dir} or " if prompt_dir else ""
        raise ConfigError(f'no prompt named "{name}" in {where}the shipped prompts; check DAYSHIFT_ANSWER__PROMPT')
    return parse_template(shipped.read_text(encoding="utf-8"), path=f"dayshift/answer/prompts/{name}.j2")
