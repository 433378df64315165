"""The gate's report: the decision, the two prompts side by side, and the per-case diff table.

Written as Markdown (for a pull-request comment or a CI summary) and as one
self-contained HTML page (no scripts, no network). Broken cases come first,
then fixed ones, then flaky ones, so the reason for the decision is at the top.
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from pathlib import Path

from dayshift.evals.gate import CaseDiff, GateResult

_LABEL = {"broken": "BROKEN", "fixed": "fixed", "still_failing": "still failing", "still_passing": "still passing"}


def _verdict_text(result: GateResult) -> str:
    if result.passed:
        promoted = " and promoted to production" if result.promoted else ""
        return f"PASSED{promoted}: no case that passed under the baseline fails under the candidate"
    return f"BLOCKED: {len(result.broken)} case(s) that passed under the baseline fail under the candidate"


def _headline(result: GateResult) -> list[tuple[str, str, str]]:
    b, c = result.baseline, result.candidate
    bs, cs = b.summary(), c.summary()

    def fmt(value: object) -> str:
        return "-" if value is None else f"{value:.3f}" if isinstance(value, float) else str(value)

    rows = [
        ("prompt", b.config.prompt, c.config.prompt),
        ("run", b.run_id, c.run_id),
        ("pass rate", f"{result.pass_rate('baseline'):.1%}", f"{result.pass_rate('candidate'):.1%}"),
        ("mean score", f"{result.mean_score('baseline'):.3f}", f"{result.mean_score('candidate'):.3f}"),
    ]
    for name in ("f1", "exact_match", "semantic_similarity", "recall_at_k", "groundedness", "citation_precision",
                 "abstention_correct"):
        rows.append((name.replace("_", " "), fmt(bs.get(name)), fmt(cs.get(name))))
    rows += [
        ("tokens in / out", f"{bs['input_tokens']} / {bs['output_tokens']}", f"{cs['input_tokens']} / {cs['output_tokens']}"),
        ("cost (USD)", f"{bs['cost_usd']:.4f}", f"{cs['cost_usd']:.4f}"),
        ("latency p50 (ms)", _latency(bs), _latency(cs)),
    ]
    return rows


def _latency(summary: dict[str, object]) -> str:
    """p50 over the results that ran the model; cached ones took no model time and are left out."""
    p50, n, total = summary["latency_p50_ms"], summary["latency_results"], summary["results"]
    if p50 is None:
        return "- (all from the cache)"
    text = f"{p50:.0f}"
    return text if n == total else f"{text} (over {n} of {total} not from the cache)"


def _outcome(diff: CaseDiff, which: str) -> str:
    o = diff.baseline if which == "baseline" else diff.candidate
    mark = "pass" if o.passed else "fail"
    return f"{mark} ({o.passes}/{o.runs})" if o.runs > 1 else mark


def _shown(diffs: Sequence[CaseDiff], *, include_unchanged: bool) -> list[CaseDiff]:
    return [d for d in diffs if include_unchanged or d.change in ("broken", "fixed") or d.flaky]


def render_markdown(result: GateResult, *, include_unchanged: bool = False) -> str:
    c = result.candidate.config
    lines = [
        f"# Eval gate: {result.candidate.config.prompt} against {result.baseline.config.prompt}",
        "",
        f"**{_verdict_text(result)}.**",
        "",
        (f"{len(result.diffs)} cases, {c.repeats} run(s) each; broken {len(result.broken)}, fixed {len(result.fixed)}, "
        f"flaky {len(result.flaky)}. Model `{c.model}`, index `{c.index_version}`, settings `{c.settings_hash}`, "
        f"dataset `{c.dataset}` (`{c.dataset_hash[:12]}`)."),
        "",
        "| | baseline | candidate |",
        "|---|---|---|",
        *[f"| {name} | {b} | {cand} |" for name, b, cand in _headline(result)],
        "",
    ]
    for note in result.notes:
        lines += [f"> {note}", ""]
    shown = _shown(result.diffs, include_unchanged=include_unchanged)
    lines += [
        "## Cases" if include_unchanged else "## Changed and flaky cases",
        "",
        "| case | change | baseline | candidate | flaky | question | expected | baseline answer | candidate answer |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for d in shown:
        cells = [
            d.case_id, f"**{_LABEL[d.change]}**" if d.change == "broken" else _LABEL[d.change],
            _outcome(d, "baseline"), _outcome(d, "candidate"), "yes" if d.flaky else "",
            d.question, " / ".join(d.expected) if d.answerable else "(unanswerable)",
            d.baseline.answer, d.candidate.answer,
        ]
        lines.append("| " + " | ".join(_md_cell(x) for x in cells) + " |")
    if not shown:
        lines.append("| (no case changed) | | | | | | | | |")
    return "\n".join(lines) + "\n"


def _md_cell(text: str) -> str:
    return " ".join(text.split()).replace("|", "\\|")[:300]


_CSS = """
body{font:14px/1.45 system-ui,sans-serif;margin:2rem auto;max-width:1200px;color:#1d2430;padding:0 1rem}
h1{font-size:1.35rem} .verdict{padding:.7rem 1rem;border-radius:6px;font-weight:600}
.passed{background:#e3f4e8;color:#12602d} .blocked{background:#fbe4e4;color:#8a1515}
table{border-collapse:collapse;width:100%;margin:1rem 0} th,td{border-bottom:1px solid #dde2ea;padding:.35rem .5rem;
text-align:left;vertical-align:top} th{background:#f3f5f8} td.broken{color:#8a1515;font-weight:600}
td.fixed{color:#12602d;font-weight:600} .meta{color:#5a6474} .bar{display:inline-block;height:10px;background:#4a78c2}
"""


def render_html(result: GateResult, *, include_unchanged: bool = True) -> str:
    esc = html.escape
    c = result.candidate.config
    head = "".join(f"<tr><th>{esc(n)}</th><td>{esc(b)}</td><td>{esc(x)}</td></tr>" for n, b, x in _headline(result))
    bars = "".join(
        f"<tr><th>{esc(which)} pass rate</th><td><span class=bar style='width:{300 * result.pass_rate(which):.0f}px'>"
        f"</span> {result.pass_rate(which):.1%}</td></tr>"
        for which in ("baseline", "candidate")
    )
    rows = []
    for d in _shown(result.diffs, include_unchanged=include_unchanged):
        rows.append(
            f"<tr id='case-{esc(d.case_id)}'><td>{esc(d.case_id)}</td><td class='{d.change.split('_')[0]}'>"
            f"{esc(_LABEL[d.change])}</td><td>{esc(_outcome(d, 'baseline'))}</td><td>{esc(_outcome(d, 'candidate'))}</td>"
            f"<td>{'flaky' if d.flaky else ''}</td><td>{esc(d.question)}</td>"
            f"<td>{esc(' / '.join(d.expected)) if d.answerable else '<em>unanswerable</em>'}</td>"
            f"<td>{esc(d.baseline.answer)}</td><td>{esc(d.candidate.answer)}</td></tr>"
        )
    notes = "".join(f"<p class=meta>{esc(n)}</p>" for n in result.notes)
    return f"""<!doctype html>
<html lang=en><head><meta charset=utf-8><title>Eval gate: {esc(c.prompt)}</title><style>{_CSS}</style></head>
<body>
<h1>Eval gate: {esc(c.prompt)} against {esc(result.baseline.config.prompt)}</h1>
<p class="verdict {'passed' if result.passed else 'blocked'}" id=verdict>{esc(_verdict_text(result))}</p>
<p class=meta>{len(result.diffs)} cases, {c.repeats} run(s) each; broken <b id=broken-count>{len(result.broken)}</b>,
fixed <b id=fixed-count>{len(result.fixed)}</b>, flaky {len(result.flaky)}. Model {esc(c.model)}, index
{esc(c.index_version)}, settings {esc(c.settings_hash)}, dataset {esc(c.dataset)}.</p>
{notes}
<table><tr><th></th><th>baseline</th><th>candidate</th></tr>{head}</table>
<table>{bars}</table>
<h2>Cases</h2>
<table id=cases><tr><th>case</th><th>change</th><th>baseline</th><th>candidate</th><th></th><th>question</th>
<th>expected</th><th>baseline answer</th><th>candidate answer</th></tr>
{''.join(rows)}</table>
</body></html>
"""


def write_reports(result: GateResult, folder: Path) -> tuple[Path, Path]:
    folder.mkdir(parents=True, exist_ok=True)
    md, page = folder / "gate-report.md", folder / "gate-report.html"
    md.write_text(render_markdown(result), encoding="utf-8")
    page.write_text(render_html(result), encoding="utf-8")
    return md, page
