"""Lint over real prompt files: each check fires on the file and line at fault, at its level, and a prompt
that does everything right has no finding. The shipped prompt passes with its two known warnings."""

from __future__ import annotations

from pathlib import Path

import pytest
from prompt_folder import GOOD_BODY, YAML_QA_V3, front_matter, write

from dayshift.answer.prompts import SHIPPED_PROMPTS, parse_template
from dayshift.errors import ConfigError
from dayshift.prompts import LintFinding, PromptRegistry, lint_registry, lint_template
from dayshift.prompts.lint import LintContext
from dayshift.prompts.registry import load_file
from dayshift.settings import Settings

CONTEXT = LintContext(model="gpt-4o-mini", max_answer_tokens=192, context_window=4096)


def lint_file(folder: Path, relative: str, text: str, *, context: LintContext = CONTEXT) -> list[LintFinding]:
    template = load_file(write(folder, relative, text))
    assert template is not None
    return lint_template(template, context=context)


def codes(findings: list[LintFinding]) -> list[tuple[str, str, int | None]]:
    return [(f.level, f.code, f.line) for f in findings]


def test_a_good_prompt_in_each_format_has_no_finding(tmp_path: Path) -> None:
    assert lint_file(tmp_path, "qa/v2.md", front_matter("qa", 2, model="gpt-4o-mini")) == []
    assert lint_file(tmp_path, "qa.v3.yaml", YAML_QA_V3) == []


def test_an_undefined_variable_is_an_error_at_its_line(tmp_path: Path) -> None:
    body = GOOD_BODY.replace("Question: {{ question }}", "Question: {{ question }}\nTone: {{ tone }}")
    findings = lint_file(tmp_path, "qa.md", front_matter("qa", 1, body=body))
    # line 1 ---, 2-3 name/version, 4 ---, 5 [system], 6-7 rules, 8 [user], 9 for, 10 question, 11 tone
    assert codes(findings) == [("error", "undefined-variable", 11)]
    assert str(findings[0]) == (f"{tmp_path / 'qa.md'}:11: error: undefined variable 'tone': this prompt is "
                                "given only `question` and `sources` [undefined-variable]")


def test_an_attribute_sources_do_not_have_is_an_error_in_yaml_messages_too(tmp_path: Path) -> None:
    text = YAML_QA_V3.replace("{{ s.text }}", "{{ s.text }} ({{ s.score }})")
    findings = lint_file(tmp_path, "qa.yaml", text)
    assert codes(findings) == [("error", "undefined-variable", 15)]  # the line of `{% for s in sources %}...`
    assert "a source has no attribute 'score': use n, text, title, doc_id" in findings[0].message


def test_what_the_static_check_misses_the_trial_render_catches(tmp_path: Path) -> None:
    body = GOOD_BODY + "First: {{ sources[0].url }}\n"
    findings = lint_file(tmp_path, "qa.md", front_matter("qa", 1, body=body))
    assert codes(findings) == [("error", "render-error", 11)]
    assert "has no attribute 'url'" in findings[0].message


def test_missing_citation_and_abstention_instructions_are_warnings(tmp_path: Path) -> None:
    body = "[system]\nBe brief.\n[user]\n{% for s in sources %}{{ s.text }}\n{% endfor %}{{ question }}\n"
    findings = lint_file(tmp_path, "qa.md", front_matter("qa", 1, body=body))
    assert codes(findings) == [("warning", "no-citation-instruction", 5), ("warning", "no-abstention-instruction", 5)]  # at [system]
    # the words count, not the variable called `sources` nor a marker made of Jinja ("[{{ s.n }}]")
    cites_only = body.replace("Be brief.", "Be brief. Cite the source of each claim as [n].")
    assert codes(lint_file(tmp_path, "qa.md", front_matter("qa", 1, body=cites_only))) == [
        ("warning", "no-abstention-instruction", 5)
    ]
    abstains_only = body.replace("Be brief.", "If the answer is not in the text, say you don't know.")
    assert codes(lint_file(tmp_path, "qa.md", front_matter("qa", 1, body=abstains_only))) == [
        ("warning", "no-citation-instruction", 5)
    ]


def test_model_mismatch_and_params_out_of_range(tmp_path: Path) -> None:
    text = front_matter("qa", 1, model="claude-sonnet-4", params={"max_tokens": 300, "temperature": 1.5})
    findings = lint_file(tmp_path, "qa.md", text)
    assert codes(findings) == [("warning", "model-mismatch", 4), ("warning", "params-out-of-range", 6),
                               ("warning", "params-out-of-range", 7)]
    assert "written for claude-sonnet-4, but the configured model is gpt-4o-mini" in findings[0].message
    assert "above answer.max_answer_tokens (192), which caps it" in findings[1].message
    small_window = LintContext(model="claude-sonnet-4", max_answer_tokens=512, context_window=256)
    assert codes(lint_file(tmp_path, "qa.md", text, context=small_window)) == [
        ("error", "params-out-of-range", 6), ("warning", "params-out-of-range", 7)
    ]


def test_an_unknown_key_is_a_warning_that_points_at_params(tmp_path: Path) -> None:
    findings = lint_file(tmp_path, "qa.md", front_matter("qa", 1, max_tokens=64))
    assert codes(findings) == [("warning", "unknown-key", 4)]
    assert "unknown key 'max_tokens' is ignored; generation settings go under `params`" in findings[0].message


def test_parameters_is_another_name_for_params(tmp_path: Path) -> None:
    assert lint_file(tmp_path, "qa.md", front_matter("qa", 1, parameters={"max_tokens": 64})) == []
    template = parse_template(front_matter("qa", 1, parameters={"max_tokens": 64}), path="qa.md")
    assert template.params == {"max_tokens": 64}
    with pytest.raises(ConfigError, match="both `params` and `parameters`"):
        parse_template(front_matter("qa", 1, parameters={"max_tokens": 64}, params={"max_tokens": 8}), path="qa.md")


def test_lint_registry_reports_broken_files_and_labels_with_lines(tmp_path: Path) -> None:
    home = tmp_path / "prompts"
    write(home, "qa/v1.md", front_matter("qa", 1))
    write(home, "qa/v2.md", front_matter("qa", 2, body=GOOD_BODY.replace("{{ question }}", "{{ question }")))
    write(home, "bad.yaml", "name: x\nversion: 1\ntemplate: [unclosed\n")
    write(home, "labels.yaml", "qa:\n  production: 1\n  candidate: 5\ngone:\n  production: 1\n")
    findings = lint_registry(PromptRegistry([home, SHIPPED_PROMPTS]), context=CONTEXT)
    assert [(Path(f.path).name, f.line, f.code) for f in findings] == [
        ("bad.yaml", 4, "load-error"), ("labels.yaml", 3, "dangling-label"), ("labels.yaml", 4, "dangling-label"),
        ("v2.md", 10, "load-error"),
    ]


def test_lint_registry_checks_the_configured_answer_prompt(tmp_path: Path) -> None:
    home = tmp_path / "prompts"
    write(home, "qa/v1.md", front_matter("qa", 1, model="gpt-4o-mini"))
    assert lint_registry(PromptRegistry([home, SHIPPED_PROMPTS]), context=CONTEXT, answer_ref="qa@1") == []
    [finding] = lint_registry(PromptRegistry([home, SHIPPED_PROMPTS]), context=CONTEXT, answer_ref="qa@production")
    assert (finding.level, finding.code) == ("error", "answer-prompt")
    assert 'prompt qa has no label "production"' in finding.message


def test_the_shipped_folder_passes_strict_and_its_instruction_findings_are_notes() -> None:
    """The served prompt fits the configured model; instruction findings are notes while the support check runs."""
    settings = Settings()
    context = LintContext.from_settings(settings)
    assert context.guarded  # answer.support_check is on by default
    findings = lint_registry(PromptRegistry.from_settings(settings), context=context, answer_ref=settings.answer.prompt)
    assert [f for f in findings if f.level != "note"] == [], [str(f) for f in findings]
    assert {f.code for f in findings} <= {"no-abstention-instruction", "no-citation-instruction", "model-mismatch"}


def test_instruction_findings_are_warnings_when_the_support_check_is_off(tmp_path: Path) -> None:
    bare = "[user]\n{% for s in sources %}{{ s.text }}{% endfor %} {{ question }}\n"
    guarded = lint_file(tmp_path, "qa.md", front_matter("qa", 1, body=bare), context=LintContext(guarded=True))
    open_ = lint_file(tmp_path, "qa.md", front_matter("qa", 1, body=bare), context=LintContext(guarded=False))
    assert {(f.level, f.code) for f in guarded} == {("note", "no-citation-instruction"),
                                                    ("note", "no-abstention-instruction")}
    assert {(f.level, f.code) for f in open_} == {("warning", "no-citation-instruction"),
                                                  ("warning", "no-abstention-instruction")}


def test_the_structured_answer_prompt_gets_a_schema_and_asks_for_null(tmp_path: Path) -> None:
    body = ("[system]\nFill in JSON from the text. Where the text does not give a value, use null.\n[user]\n"
            "{% for s in sources %}[{{ s.n }}] {{ s.text }}{% endfor %}\nSchema: {{ schema }}\n{{ question }}\n")
    context = LintContext(json_prompt="facts", max_answer_tokens=64)
    text = front_matter("facts", 1, body=body).replace("version: 1", "version: 1\nparams: {max_tokens: 256}")
    assert lint_file(tmp_path, "facts.md", text, context=context) == []  # its max_tokens is its own
    as_answer = lint_file(tmp_path, "qa.md", front_matter("qa", 1, body=body), context=context)
    assert ("error", "undefined-variable") in {(f.level, f.code) for f in as_answer}
    silent = body.replace(" Where the text does not give a value, use null.", "")
    assert [f.code for f in lint_file(tmp_path, "facts.md", front_matter("facts", 1, body=silent),
                                      context=context)] == ["no-abstention-instruction"]


def test_a_model_mismatch_warns_only_for_the_served_version(tmp_path: Path) -> None:
    home = tmp_path / "prompts"
    write(home, "qa/v1.md", front_matter("qa", 1, body=GOOD_BODY).replace("version: 1", "version: 1\nmodel: old-model"))
    write(home, "qa/v2.md", front_matter("qa", 2, body=GOOD_BODY).replace("version: 2", "version: 2\nmodel: new-model"))
    findings = lint_registry(PromptRegistry([home]), context=LintContext(model="new-model"), answer_ref="qa")
    assert [(f.level, f.code, Path(f.path).name) for f in findings] == [("note", "model-mismatch", "v1.md")]
    served_old = lint_registry(PromptRegistry([home]), context=LintContext(model="new-model"), answer_ref="qa@1")
    assert [(f.level, Path(f.path).name) for f in served_old] == [("warning", "v1.md")]


@pytest.mark.parametrize("ref", ["qa@1", "qa"])
def test_lint_registry_with_refs_lints_only_those(tmp_path: Path, ref: str) -> None:
    home = tmp_path / "prompts"
    write(home, "qa/v1.md", front_matter("qa", 1, body="[user]\n{{ question }} {{ extra }}\n"))
    findings = lint_registry(PromptRegistry([home, SHIPPED_PROMPTS]), context=CONTEXT, refs=[ref, "answer"])
    assert {(Path(f.path).name, f.code) for f in findings} == {
        ("v1.md", "undefined-variable"), ("v1.md", "no-citation-instruction"), ("v1.md", "no-abstention-instruction"),
        ("answer.v3.j2", "model-mismatch"),  # the shipped answer prompt (v3) asks for [n] and says when to abstain
    }
