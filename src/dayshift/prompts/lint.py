"""Lint for prompt files: what would fail at the first question, or answer worse than it should.

    error    the file does not load (front matter, YAML, Jinja syntax, params out of range, a duplicate version);
             a variable the answer prompt is not given (anything but `question`, and `sources` whose items have
             .n .text .title .doc_id); a label naming a version no file defines; max_tokens over the context window
    warning  no citation instruction (cite / [n] / sources); no instruction for when the sources lack the answer
             (both only when answer.support_check is off: with it on, the answerer abstains on weak evidence
             before the model, withdraws a draft its sources do not support and infers a missing [n], so a
             prompt without them is a choice, e.g. for a small reader, and the finding is a note);
             the served version written for another model than the configured one (older versions: a note);
             max_tokens above answer.max_answer_tokens (the answer is cut there; not for the structured-answer
             prompt, whose max_tokens is its own); temperature above 1; an unknown key (ignored at load)
    note     shown, never fails a run, not even with --strict

The structured-answer prompt (answer.json_prompt) is rendered with `schema` as well, and
asks for null, not "I don't know", where the text is silent; it carries no [n] markers.

Each finding names the file and, where it can, the line. The instruction checks
read the template's own words (not its Jinja), so they are heuristics: hence warnings.
Left out: checking what a prompt's model makes of it (that is an eval).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

import yaml
from jinja2 import Environment, StrictUndefined, TemplateError, meta, nodes

from dayshift.answer.prompts import (
    FRONT_MATTER_KEYS,
    YAML_KEYS,
    PromptTemplate,
    Section,
    read_prompt_file,
    split_sections,
)
from dayshift.errors import ConfigError
from dayshift.prompts import store

if TYPE_CHECKING:
    from dayshift.prompts.registry import PromptRegistry
    from dayshift.settings import Settings

Level = Literal["error", "warning", "note"]
ANSWER_VARIABLES = frozenset({"question", "sources"})  # what dayshift renders an answer prompt with
JSON_VARIABLES = ANSWER_VARIABLES | {"schema"}  # and a structured-answer prompt (answer.json_prompt)
SOURCE_ATTRIBUTES = ("n", "text", "title", "doc_id")  # what each of `sources` has

_CITES = re.compile(r"\bcit(e|es|ed|ing|ation|ations)\b|\[\s*(n|\d+)\s*\]|\bsources?\b", re.IGNORECASE)
_ABSTAINS = re.compile(
    r"\b(do not|don'?t|does not|doesn'?t|cannot|can'?t|unable to)\s+(know|answer|contain|include|say|find|support)"
    r"|\bnot\b[^.\n]{0,40}\b(in the (sources?|text|context|documents?|excerpts?)|contain|include|mention|cover"
    r"|support|found|enough)"
    r"|\b(insufficient|unanswerable|abstain|no answer|say so|unknown)\b",
    re.IGNORECASE,
)
_NULLS = re.compile(r"\b(use|give|put|write|return)\s+null\b|\bnull\b\s+(where|when|if)\b", re.IGNORECASE)
_ENV = Environment(undefined=StrictUndefined, autoescape=False)


@dataclass(frozen=True, slots=True)
class LintFinding:
    level: Level
    code: str  # e.g. undefined-variable, no-citation-instruction
    message: str
    path: str
    line: int | None = None

    def __str__(self) -> str:
        where = f"{self.path}:{self.line}" if self.line else self.path
        return f"{where}: {self.level}: {self.message} [{self.code}]"


@dataclass(frozen=True, slots=True)
class LintContext:
    """What the prompts will run with; None skips the checks that need it."""

    model: str | None = None  # the configured primary model's name
    max_answer_tokens: int | None = None
    context_window: int | None = None
    guarded: bool = False  # answer.support_check: the answerer abstains and cites whatever the prompt says
    served: frozenset[str] = frozenset()  # "name@version" of the versions the settings answer with
    json_prompt: str | None = None  # answer.json_prompt's name

    @classmethod
    def from_settings(cls, settings: Settings) -> LintContext:
        llm = settings.llm
        if llm.backend == "local":
            from dayshift.llm.readers import local_model_name

            model = local_model_name(llm.model)
            window: int | None = llm.context_window or llm.n_ctx
        else:
            model, window = llm.model, llm.context_window
        answer = settings.answer
        return cls(model=model, max_answer_tokens=answer.max_answer_tokens, context_window=window,
                   guarded=answer.support_check, json_prompt=getattr(answer, "json_prompt", None))

    def with_served(self, registry: PromptRegistry, refs: Sequence[str | None]) -> LintContext:
        """This context, knowing which versions `refs` (answer.prompt, answer.json_prompt) resolve to."""
        served = set()
        for ref in refs:
            try:
                if ref:
                    served.add(registry.get(ref).ref)
            except ConfigError:
                continue  # reported as answer-prompt by lint_registry
        return LintContext(model=self.model, max_answer_tokens=self.max_answer_tokens,
                           context_window=self.context_window, guarded=self.guarded, served=frozenset(served),
                           json_prompt=self.json_prompt)


@dataclass(frozen=True, slots=True)
class _LintSource:
    n: int
    text: str
    title: str
    doc_id: str


def lint_registry(
    registry: PromptRegistry, *, context: LintContext = LintContext(), refs: Sequence[str] = (),
    answer_ref: str | None = None,
) -> list[LintFinding]:
    """Findings for `refs`, or for every file of the home folder and its labels.yaml; errors first."""
    if refs:
        templates = [registry.get(ref) for ref in refs]
        findings = []
    else:
        scan = registry.scan()
        findings = [_problem(p.path, p.error) for p in scan.problems]
        templates = [t for name, folder in scan.folder_of.items() if folder == registry.home
                     for t in scan.templates[name].values()]
        findings += _lint_labels(registry)
        if answer_ref and not scan.problems:
            try:
                registry.get(answer_ref)
            except ConfigError as exc:
                findings.append(LintFinding("error", "answer-prompt", f"answer.prompt {answer_ref!r}: {exc}", "settings"))
    if answer_ref and not context.served:
        context = context.with_served(registry, [answer_ref, context.json_prompt])
    for template in templates:
        findings += lint_template(template, context=context)
    return sorted(findings, key=lambda f: (f.level != "error", f.path, f.line or 0, f.code))


def lint_template(template: PromptTemplate, *, context: LintContext = LintContext()) -> list[LintFinding]:
    text = template.content
    if text:
        meta_keys, _, sections = read_prompt_file(text, path=template.path)
    else:  # built in code, not read from a file: no keys or lines of its own
        meta_keys, sections = {}, split_sections(template.body, where=template.path)
    structured = context.json_prompt is not None and template.name == context.json_prompt
    findings = _lint_keys(template, text, list(meta_keys)) + _lint_params(template, text, context)
    for section in sections:
        findings += _lint_variables(template.path, section, JSON_VARIABLES if structured else ANSWER_VARIABLES)
    words = " ".join(
        node.data for s in sections if s.role != "assistant" for node in _ENV.parse(s.text).find_all(nodes.TemplateData)
    )
    first_line = sections[0].line if sections else None
    return findings + _lint_instructions(template, words, first_line, context=context, structured=structured)


def _lint_instructions(template: PromptTemplate, words: str, line: int | None, *, context: LintContext,
                       structured: bool) -> list[LintFinding]:
    """Citation and abstention instructions: warnings, or notes where the answerer's checks do that job."""
    level: Level = "note" if context.guarded else "warning"
    guard = (" (a note: answer.support_check abstains on unsupported drafts and infers [n] markers)"
             if context.guarded else "")
    findings = []
    if structured:  # JSON has no [n] markers; a value the text does not give should be null
        if not _NULLS.search(words) and not _ABSTAINS.search(words):
            findings.append(LintFinding(
                "warning", "no-abstention-instruction", "no instruction for values the text does not give: the "
                "model will invent them; e.g. 'Where the text does not give a value, use null.'", template.path, line,
            ))
        return findings
    if not _CITES.search(words):
        findings.append(LintFinding(
            level, "no-citation-instruction", "no instruction to cite the sources: answers will come without [n] "
            "markers to check; e.g. 'Cite the sources you use as [n].'" + guard, template.path, line,
        ))
    if not _ABSTAINS.search(words):
        findings.append(LintFinding(
            level, "no-abstention-instruction", "no instruction for when the sources do not contain the answer: "
            "the model will guess; e.g. 'If the sources do not contain the answer, say you don't know.'" + guard,
            template.path, line,
        ))
    return findings


def _lint_variables(path: str, section: Section, given: frozenset[str] = ANSWER_VARIABLES) -> list[LintFinding]:
    ast = _ENV.parse(section.text)
    findings = []
    for name in sorted(meta.find_undeclared_variables(ast) - given):
        line = next((n.lineno for n in ast.find_all(nodes.Name) if n.name == name), 1)
        findings.append(LintFinding(
            "error", "undefined-variable", f"undefined variable {name!r}: this prompt is given only "
            f"{' and '.join(f'`{v}`' for v in sorted(given))}", path, section.line + line - 1,
        ))
    reported = set()
    for attr, line in _source_attributes(ast):
        if attr not in SOURCE_ATTRIBUTES:
            reported.add(attr)
            findings.append(LintFinding(
                "error", "undefined-variable", f"a source has no attribute {attr!r}: use "
                f"{', '.join(SOURCE_ATTRIBUTES)}", path, section.line + line - 1,
            ))
    if findings:
        return findings
    # The static checks miss some shapes (sources[0].x, a macro); a trial render catches what it reaches.
    sample = [_LintSource(n, f"Text of source {n}.", f"Title {n}", f"doc{n}") for n in (1, 2)]
    try:
        _ENV.from_string(section.text).render(question="What is it?", sources=sample,
                                              **({"schema": '{"type": "object"}'} if "schema" in given else {}))
    except TemplateError as exc:
        return [LintFinding("error", "render-error", f"does not render with a question and two sources: {exc}",
                            path, section.line + _template_line(exc) - 1)]
    return []


def _source_attributes(ast: nodes.Template) -> list[tuple[str, int]]:
    """(attribute, line) read from an item of `sources` in `{% for s in sources %}` loops."""
    found = []
    for loop in ast.find_all(nodes.For):
        if not (isinstance(loop.iter, nodes.Name) and loop.iter.name == "sources" and isinstance(loop.target, nodes.Name)):
            continue
        item = loop.target.name
        for body_node in loop.body:
            for node in body_node.find_all((nodes.Getattr, nodes.Getitem)):
                if isinstance(node.node, nodes.Name) and node.node.name == item:
                    attr = node.attr if isinstance(node, nodes.Getattr) else getattr(node.arg, "value", None)
                    if isinstance(attr, str):
                        found.append((attr, node.lineno))
    return found


def _template_line(exc: BaseException) -> int:
    tb, line = exc.__traceback__, 1
    while tb is not None:
        if tb.tb_frame.f_code.co_filename == "<template>":
            line = tb.tb_lineno
        tb = tb.tb_next
    return line


def _lint_keys(template: PromptTemplate, text: str, keys: list[str]) -> list[LintFinding]:
    known = YAML_KEYS if template.path.endswith((".yaml", ".yml")) else FRONT_MATTER_KEYS
    return [
        LintFinding("warning", "unknown-key", f"unknown key {key!r} is ignored"
                    + ("; generation settings go under `params`" if key in ("max_tokens", "temperature", "stop") else f"; keys are {', '.join(known)}"),
                    template.path, _key_line(text, str(key)))
        for key in keys if key not in known
    ]


def _lint_params(template: PromptTemplate, text: str, context: LintContext) -> list[LintFinding]:
    findings = []
    path, params = template.path, template.params
    served = not context.served or template.ref in context.served  # unknown: treat every version as served
    structured = context.json_prompt is not None and template.name == context.json_prompt
    if template.model and context.model and template.model.lower() != context.model.lower():
        findings.append(LintFinding(
            "warning" if served else "note", "model-mismatch", f"written for {template.model}, but the configured model is {context.model}: "
            "check this version on it (dayshift eval) before relying on it", path, _key_line(text, "model"),
        ))
    max_tokens = params.get("max_tokens")
    if max_tokens is not None and context.context_window and max_tokens >= context.context_window:
        findings.append(LintFinding(
            "error", "params-out-of-range", f"max_tokens {max_tokens} leaves no room for the prompt in the "
            f"{context.context_window}-token context window; lower it", path, _key_line(text, "max_tokens"),
        ))
    elif (max_tokens is not None and context.max_answer_tokens and max_tokens > context.max_answer_tokens
          and not structured):
        findings.append(LintFinding(
            "warning", "params-out-of-range", f"max_tokens {max_tokens} is above answer.max_answer_tokens "
            f"({context.max_answer_tokens}), which caps it; lower one or raise the other", path,
            _key_line(text, "max_tokens"),
        ))
    if params.get("temperature", 0) > 1:
        findings.append(LintFinding(
            "warning", "params-out-of-range", f"temperature {params['temperature']} is above 1: grounded answers "
            "drift from the sources; 0 to 0.7 suits them", path, _key_line(text, "temperature"),
        ))
    return findings


def _lint_labels(registry: PromptRegistry) -> list[LintFinding]:
    scan = registry.scan()
    path = registry.home / store.LABELS_FILE
    text = path.read_text(encoding="utf-8") if path.is_file() else ""
    findings = []
    for name, labels in sorted(scan.labels.items()):
        if name not in scan.templates:
            findings.append(LintFinding("error", "dangling-label", f"labels for {name!r}, which no prompt file "
                                        "defines; remove them or restore the prompt", str(path), _key_line(text, name)))
            continue
        for label, version in sorted(labels.items()):
            if version not in scan.templates[name]:
                have = ", ".join(str(v) for v in sorted(scan.templates[name]))
                findings.append(LintFinding("error", "dangling-label", f"{name}@{label} names version {version}, "
                                            f"which no file defines (versions: {have})", str(path),
                                            _key_line(text, label, after=_key_line(text, name))))
    return findings


def _problem(path: str, error: ConfigError) -> LintFinding:
    message = str(error).removeprefix(f"{path}: ")
    line = None
    cause = error.__cause__
    if isinstance(cause, yaml.MarkedYAMLError) and cause.problem_mark is not None:
        # front matter starts on the file's line 2, under its opening ---
        line = cause.problem_mark.line + (1 if path.endswith((".yaml", ".yml")) else 2)
    elif match := re.search(r"at line (\d+)", message):
        line = int(match.group(1))
    return LintFinding("error", "load-error", message, path, line)


def _key_line(text: str, key: str, *, after: int | None = None) -> int | None:
    """The first line, after line `after`, that sets `key:` (at any indent)."""
    pattern = re.compile(rf"^\s*['\"]?{re.escape(key)}['\"]?\s*:", re.MULTILINE)
    for match in pattern.finditer(text):
        line = text.count("\n", 0, match.start()) + 1
        if after is None or line > after:
            return line
    return None
