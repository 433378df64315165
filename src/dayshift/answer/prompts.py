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
from dataclasses import dataclass
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

    @property
    def ref(self) -> str:
        return f"{self.name}@v{self.version}"

    def render(self, **variables: Any) -> tuple[Message, ...]:
        try:
            text = _ENV.from_string(self.body).render(**variables)
        except UndefinedError as exc:
            raise ConfigError(f"prompt {self.ref} ({self.path}): {exc}; pass that variable or fix the template") from exc
        except TemplateError as exc:
            raise ConfigError(f"prompt {self.ref} ({self.path}) does not render: {exc}") from exc
        return _split_messages(text, where=self.path)


def _split_messages(text: str, *, where: str) -> tuple[Message, ...]:
    parts = _ROLE_LINE.split(text)
    if parts[0].strip():
        raise ConfigError(f"{where}: text before the first [system]/[user] line; start the body with a role line")
    messages = [Message(role=role, content=content.strip()) for role, content in zip(parts[1::2], parts[2::2])]  # type: ignore[arg-type]
    if not messages:
        raise ConfigError(f"{where}: no [system]/[user]/[assistant] line; add at least a [user] section")
    return tuple(messages)


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
    _ENV.parse(body)  # syntax errors surface at load, not at the first question
    return PromptTemplate(
        name=str(meta["name"]), version=meta["version"], description=str(meta.get("description", "")),
        body=body, path=path,
    )


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
