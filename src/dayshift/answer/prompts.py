"""Prompt templates as files: Jinja with role lines, a name and a version.

Two file formats hold the same thing. Front matter over a body (`.j2`, `.md`):

    ---
    name: qa
    version: 3
    description: grounded answer with [n] citations
    model: gpt-4o-mini            # optional: the model this version was written for
    params: {max_tokens: 256, stop: ["Question:"], temperature: 0}
    ---
    [system]
    You answer from the numbered sources only. ...
    [user]
    {% for s in sources %}[{{ s.n }}] {{ s.text }}
    {% endfor %}Question: {{ question }}

or YAML (`.yaml`, `.yml`) with the same keys and either `template:` (that body)
or `messages: [{role: system, content: ...}, ...]`.

`[system]` / `[user]` / `[assistant]` lines open a message. Variables are
strict: a missing one is an error naming the template, not an empty string.
`load_prompt` finds `name.j2` in `answer.prompt_dir`, then among the shipped
files; versions, labels and history are `dayshift.prompts.PromptRegistry`'s.
Left out: template inheritance across files.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from jinja2 import Environment, StrictUndefined, TemplateError, TemplateSyntaxError, UndefinedError, meta

from dayshift.errors import ConfigError
from dayshift.llm.base import Message

SHIPPED_PROMPTS = Path(__file__).with_name("prompts")  # the prompts dayshift ships (answer.j2)
FRONT_MATTER_KEYS = ("name", "version", "description", "model", "params", "parameters")  # parameters = params
YAML_KEYS = (*FRONT_MATTER_KEYS, "template", "messages")
ROLES = ("system", "user", "assistant")
# Generation settings a prompt version carries. `no_answer`: the word the prompt tells the model to
# reply when the sources hold no answer; dayshift reads how likely the model was to say it and
# still asks for a draft (the answer layer decides, from calibrated evidence). `extractive: true`:
# the answer is copied from the sources word by word (a grammar, where the backend has one).
PARAMS = ("max_tokens", "stop", "temperature", "no_answer", "extractive")

_ROLE_LINE = re.compile(r"^\[(system|user|assistant)\]\s*$", re.MULTILINE)
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")
_ENV = Environment(undefined=StrictUndefined, autoescape=False, keep_trailing_newline=False)


@dataclass(frozen=True, slots=True)
class Section:
    """One message of a template: its role, its Jinja text, and the file line that text starts on."""

    role: str
    text: str
    line: int


@dataclass(frozen=True, slots=True)
class PromptTemplate:
    name: str
    version: int
    description: str
    body: str  # role lines and Jinja: the front-matter body, the YAML `template`, or its `messages` joined
    path: str
    # Generation settings that belong to this prompt version: max_tokens, stop, temperature.
    params: dict[str, Any] = field(default_factory=dict)
    model: str | None = None  # the model this version was written for (informational; lint compares it)
    content: str = field(default="", repr=False, compare=False)  # the whole file, as read

    @property
    def ref(self) -> str:
        return f"{self.name}@v{self.version}"

    @property
    def content_hash(self) -> str:
        """sha256 (hex) of the file: what an eval result records to name the exact prompt."""
        return hashlib.sha256((self.content or self.body).encode("utf-8")).hexdigest()

    def render(self, **variables: Any) -> tuple[Message, ...]:
        # Roles are split before rendering, so a "[system]" line inside a document
        # or a question stays text and can never open a message of its own.
        messages = []
        for section in split_sections(self.body, where=self.path):
            try:
                content = _ENV.from_string(section.text).render(**variables)
            except UndefinedError as exc:
                raise ConfigError(f"prompt {self.ref} ({self.path}): {exc}; pass that variable or fix the template") from exc
            except TemplateError as exc:
                raise ConfigError(f"prompt {self.ref} ({self.path}) does not render: {exc}") from exc
            messages.append(Message(role=section.role, content=content.strip()))  # type: ignore[arg-type]
        return tuple(messages)

    def fixed_texts(self) -> tuple[str, ...]:
        """The messages that use no variable (instructions, worked examples), as `render` writes them.

        They are the prompt author's text, not the user's: ChatRequest.prompt_texts, which PII
        redaction leaves as it is.
        """
        fixed = []
        for section in split_sections(self.body, where=self.path):
            try:
                if meta.find_undeclared_variables(_ENV.parse(section.text)):
                    continue
                text = _ENV.from_string(section.text).render().strip()
            except TemplateError:
                continue  # `render` reports it
            if text:
                fixed.append(text)
        return tuple(fixed)


def split_sections(body: str, *, where: str, first_line: int = 1) -> list[Section]:
    """The messages of a role-line body; `first_line` is the file line the body starts on."""
    matches = list(_ROLE_LINE.finditer(body))
    if body[: matches[0].start() if matches else len(body)].strip():
        raise ConfigError(f"{where}: text before the first [system]/[user] line; start the body with a role line")
    if not matches:
        raise ConfigError(f"{where}: no [system]/[user]/[assistant] line; add at least a [user] section")
    sections = []
    for i, match in enumerate(matches):
        end = matches[i + 1].start() if i + 1 < len(matches) else len(body)
        line = first_line + body.count("\n", 0, match.end())
        sections.append(Section(role=match.group(1), text=body[match.end() : end], line=line))
    return sections


def read_prompt_file(text: str, *, path: str) -> tuple[dict[str, Any], str, list[Section]]:
    """(metadata, body, sections with file lines) of a prompt file, before its metadata is checked."""
    text = text.removeprefix("\ufeff").replace("\r\n", "\n")
    if path.endswith((".yaml", ".yml")):
        return _read_yaml(text, path=path)
    if not text.startswith("---\n"):
        raise ConfigError(f"{path}: a prompt file starts with front matter (---, name:, version:, ---)")
    try:
        header, body = text[4:].split("\n---\n", 1)
        meta = yaml.safe_load(header) or {}
    except (ValueError, yaml.YAMLError) as exc:
        raise ConfigError(f"{path}: unreadable front matter ({exc}); close it with a --- line") from exc
    if not isinstance(meta, dict):
        raise ConfigError(f"{path}: front matter must be `key: value` lines (name, version, ...)")
    # Line 1 is "---", then the header's lines, then the closing "---": the body starts after it.
    return meta, body, split_sections(body, where=path, first_line=header.count("\n") + 4)


def _read_yaml(text: str, *, path: str) -> tuple[dict[str, Any], str, list[Section]]:
    try:
        data, root = yaml.safe_load(text), yaml.compose(text)
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: unreadable YAML ({exc}); fix the file's syntax") from exc
    if not isinstance(data, dict) or not isinstance(root, yaml.MappingNode):
        raise ConfigError(f"{path}: a YAML prompt is a mapping of name, version, and template or messages")
    if ("template" in data) == ("messages" in data):
        raise ConfigError(f"{path}: give exactly one of `template` (role lines and Jinja) or `messages` "
                          "(a list of {role, content})")
    nodes = {key.value: value for key, value in root.value}
    meta = {k: v for k, v in data.items() if k not in ("template", "messages")}
    if "template" in data:
        if not isinstance(data["template"], str):
            raise ConfigError(f"{path}: template must be text (role lines and Jinja); use `template: |`")
        return meta, data["template"], split_sections(data["template"], where=path, first_line=_text_line(nodes["template"]))
    messages, message_nodes = data["messages"], nodes["messages"]
    if not isinstance(messages, list) or not messages or not isinstance(message_nodes, yaml.SequenceNode):
        raise ConfigError(f"{path}: messages must be a non-empty list of {{role, content}}")
    sections = []
    for i, (message, node) in enumerate(zip(messages, message_nodes.value), start=1):
        if not isinstance(message, dict) or set(message) != {"role", "content"} or message["role"] not in ROLES \
                or not isinstance(message["content"], str):
            raise ConfigError(f"{path}: message {i} must be {{role: system|user|assistant, content: text}}")
        if _ROLE_LINE.search(message["content"]):
            raise ConfigError(f"{path}: message {i} has a line that is a role line ([system]/[user]/[assistant]); "
                              "reword it, or it would open a message of its own")
        content_node = next(v for k, v in node.value if k.value == "content")
        sections.append(Section(role=message["role"], text=message["content"], line=_text_line(content_node)))
    body = "".join(f"[{s.role}]\n{s.text.rstrip(chr(10))}\n" for s in sections)
    return meta, body, sections


def _text_line(node: yaml.Node) -> int:
    # A block scalar (`|`, `>`) starts on the line after its indicator; other scalars on the key's line.
    block = isinstance(node, yaml.ScalarNode) and node.style in ("|", ">")
    return node.start_mark.line + (2 if block else 1)


def parse_template(text: str, *, path: str) -> PromptTemplate:
    """A template from a file's text; `path`'s extension picks the format (.yaml/.yml, else front matter)."""
    meta, body, sections = read_prompt_file(text, path=path)
    for key in ("name", "version"):
        if key not in meta:
            where = "the file" if path.endswith((".yaml", ".yml")) else "front matter"
            raise ConfigError(f"{path}: {where} has no {key!r}; add `{key}: ...`")
    if not isinstance(meta["version"], int) or isinstance(meta["version"], bool) or meta["version"] < 1:
        raise ConfigError(f"{path}: version must be a positive integer, got {meta['version']!r}")
    if not isinstance(meta["name"], str) or not _NAME.fullmatch(meta["name"]):
        raise ConfigError(f"{path}: name {meta['name']!r} must be letters, digits, '.', '_' or '-' (refs are name@3)")
    model = meta.get("model")
    if model is not None and not (isinstance(model, str) and model.strip()):
        raise ConfigError(f"{path}: model must be a model's name, e.g. `model: gpt-4o-mini`, got {model!r}")
    for section in sections:
        try:
            _ENV.parse(section.text)  # syntax errors surface at load, not at the first question
        except TemplateSyntaxError as exc:
            line = section.line + (exc.lineno or 1) - 1
            raise ConfigError(f"{path}: template syntax error at line {line} ({exc}); fix the Jinja in that file") from exc
    if "params" in meta and "parameters" in meta:
        raise ConfigError(f"{path}: both `params` and `parameters` are set; keep one (they mean the same)")
    return PromptTemplate(
        name=meta["name"], version=meta["version"], description=str(meta.get("description") or ""),
        body=body, path=path, params=_params(meta.get("params", meta.get("parameters")), path=path), model=model,
        content=text,
    )


def _valid_param(key: str, value: Any) -> bool:
    if key == "max_tokens":
        return isinstance(value, int) and not isinstance(value, bool) and value > 0
    if key == "stop":
        return isinstance(value, list) and all(isinstance(v, str) and v for v in value)
    if key == "temperature":
        return isinstance(value, (int, float)) and not isinstance(value, bool) and 0 <= value <= 2
    if key == "no_answer":
        return isinstance(value, str) and bool(value.strip()) and len(value.split()) <= 3
    if key == "extractive":
        return isinstance(value, bool)
    return False


def _params(raw: Any, *, path: str) -> dict[str, Any]:
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: params must be a mapping ({', '.join(PARAMS)})")
    for key, value in raw.items():
        if key not in PARAMS:
            raise ConfigError(f"{path}: unknown param {key!r}; use {', '.join(PARAMS)}")
        if not _valid_param(key, value):
            raise ConfigError(
                f"{path}: param {key}={value!r} is invalid; max_tokens is a positive integer, stop a list of "
                "non-empty strings, temperature a number from 0 to 2, no_answer one to three words, extractive "
                "true or false"
            )
    return dict(raw)


def read_prompt_text(path: Path) -> str:
    """A prompt file's text exactly as stored (no newline translation), so content_hash is the file's sha256."""
    try:
        return path.read_bytes().decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path}: not UTF-8 text ({exc}); save the prompt file as UTF-8") from exc


def load_prompt(name: str, *, prompt_dir: Path | None = None) -> PromptTemplate:
    """The template file `name.j2`: `prompt_dir/name.j2` if present, else the shipped one."""
    if prompt_dir is not None and (prompt_dir / f"{name}.j2").is_file():
        path = prompt_dir / f"{name}.j2"
        return parse_template(read_prompt_text(path), path=str(path))
    shipped = SHIPPED_PROMPTS / f"{name}.j2"
    if not shipped.is_file():
        where = f"{prompt_dir} or " if prompt_dir else ""
        raise ConfigError(f'no prompt named "{name}" in {where}the shipped prompts; check DAYSHIFT_ANSWER__PROMPT')
    return parse_template(read_prompt_text(shipped), path=f"dayshift/answer/prompts/{name}.j2")
