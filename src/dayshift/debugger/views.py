"""The trace debugger in the terminal: a trace's anatomy, a replay side by side, a chunk's explanation.

Every value from a trace is user or document text, so it is printed as plain `Text` (never markup),
with control characters escaped by the monitor's `clean_text`. Traces written before the detail
existed show what they have (scores, answer, timings) and say that the rest was not recorded.
"""

from __future__ import annotations

from typing import Any

from rich.console import Console, Group
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from dayshift.debugger.replay import ReplayResult
from dayshift.debugger.why import ChunkExplanation
from dayshift.monitor.report import clean_text, format_time
from dayshift.trace.store import StoredTrace

__all__ = ["print_explanation", "print_replay", "print_trace", "trace_table"]


def _t(value: Any, *, limit: int | None = None) -> Text:
    return Text(clean_text("" if value is None else str(value), limit=limit))


def _lines(value: Any) -> Text:
    """Several lines of text, each cleaned (control characters escaped), the line breaks kept."""
    return Text("\n".join(clean_text(line) for line in str(value).split("\n")))


def _num(value: Any, digits: int = 3) -> str:
    return "-" if value is None else f"{float(value):.{digits}f}"


def trace_table(found: list[StoredTrace]) -> Table:
    table = Table("started (UTC)", "trace id", "tenant", "route", "status", "ms", "verdict", "conf.", "rating",
                  "question", title=f"{len(found)} traces, newest first")
    for t in found:
        r = t.record
        verdict = "-" if r.abstained is None else ("abstained" if r.abstained else "answered")
        table.add_row(r.started_at.strftime("%m-%d %H:%M:%S"), r.trace_id, _t(r.tenant), _t(r.route), r.status,
                      f"{r.latency_ms:,.0f}", verdict, _num(r.confidence, 2), t.rating or "-",
                      _t(r.query, limit=60))
    return table


def print_trace(stored: StoredTrace, console: Console) -> None:
    r, detail = stored.record, stored.record.detail or {}
    prompt = f"{r.prompt_name}@{r.prompt_version}" if r.prompt_name else "-"
    console.print(Text.assemble(("trace ", "bold"), r.trace_id, f"  {format_time(r.started_at)}  ", _t(r.tenant),
                                f"  {r.route}  {r.status} {r.http_status}  {r.latency_ms:,.0f} ms"))
    console.print(Text.assemble(("prompt ", "dim"), prompt, ("  model ", "dim"), _t(r.model or "-"),
                                ("  index ", "dim"), _t(r.params.get("index_version") or "-"),
                                ("  filters ", "dim"), _t(", ".join(r.params.get("where") or []) or "none")))
    console.print(Text.assemble(("question ", "bold"), _t(r.query if r.query is not None else "(not stored)")))
    console.print(_retrieval(r, detail))
    if not detail:
        console.print(Text("this trace was written before dayshift recorded the debugger's detail (or is a search): "
                           "no excerpts, prompt, draft or support to show", style="yellow"))
    for block in (_excerpts(detail), _prompt(detail), _draft(detail), _support(detail)):
        if block is not None:
            console.print(block)
    console.print(_verdict(r, detail))
    stages = "  ".join(f"{k} {v:,.1f}" for k, v in r.stages_ms.items())
    console.print(Text.assemble(("stages ms ", "dim"), stages or "-", ("  tokens ", "dim"),
                                f"{r.input_tokens}+{r.output_tokens}", ("  cost ", "dim"), f"${r.cost_usd:.5f}"))
    for fb in stored.feedback:
        console.print(Text.assemble(("feedback ", "dim"), fb.rating, " ", _t(fb.comment)))
    for error in r.errors:
        console.print(Text.assemble(("error ", "red"), _t(error)))


def _retrieval(r: Any, detail: dict[str, Any]) -> Table:
    ret = detail.get("retrieval") or {}
    shown = {s["chunk_id"]: s["n"] for s in detail.get("sources", [])}
    rows = ret.get("chunks") or [{"rank": c.rank, "chunk_id": c.chunk_id, "fused": c.score} for c in r.retrieved]
    cut = (f"mode {ret.get('mode', '?')}, {ret.get('fusion', '?')} fusion; keyword cut-off "
           f"{_num(ret.get('keyword_cutoff'))} of {ret.get('keyword_candidates', '-')}, dense cut-off "
           f"{_num(ret.get('dense_cutoff'))} of {ret.get('dense_candidates', '-')}, "
           f"fused cut-off {_num(ret.get('fused_cutoff'))}") if ret else ""
    table = Table("#", "chunk", "fused", "keyword (rank)", "dense (rank)", "sent as", title="retrieved",
                  caption=cut or None)
    for c in rows:
        table.add_row(str(c["rank"]), _t(c["chunk_id"]), _num(c.get("fused")),
                      f"{_num(c.get('keyword'))} ({c.get('keyword_rank') or '-'})" if "keyword" in c else "-",
                      f"{_num(c.get('dense'))} ({c.get('dense_rank') or '-'})" if "dense" in c else "-",
                      f"[{shown[c['chunk_id']]}]" if c["chunk_id"] in shown else "")
    return table


def _excerpts(detail: dict[str, Any]) -> Panel | None:
    sources = detail.get("sources")
    if not sources:
        return None
    body = Text()
    for s in sources:
        body.append(f"[{s['n']}] ", style="bold")
        body.append(clean_text(s["chunk_id"]), style="dim")
        body.append("\n" + clean_text(s.get("text") or "(not stored)").replace("\\n", "\n") + "\n")
    return Panel(body, title="excerpts sent", title_align="left")


def _prompt(detail: dict[str, Any]) -> Panel | None:
    messages = detail.get("messages")
    if messages is None:
        return None
    if not messages:
        return Panel(Text("no model call: the evidence was too weak to ask the model", style="dim"),
                     title="prompt as rendered", title_align="left")
    parts = []
    for m in messages:
        parts.append(Text(f"[{m['role']}]", style="bold cyan"))
        parts.append(Text(m.get("content") or "(not stored)"))
    return Panel(Group(*parts), title="prompt as rendered", title_align="left")


def _draft(detail: dict[str, Any]) -> Panel | None:
    if not detail.get("messages"):
        return None
    return Panel(_t(detail.get("draft") or "(empty)"), title="draft", title_align="left")


def _support(detail: dict[str, Any]) -> Table | None:
    support = detail.get("support")
    if not support:
        return None
    sentences = next((v for v in support.values() if isinstance(v, list) and v and isinstance(v[0], dict)
                      and "text" in v[0]), None)
    if sentences:
        table = Table("sentence", *[k for k in sentences[0] if k != "text"], title="support per sentence")
        for s in sentences:
            table.add_row(_t(s.get("text"), limit=120), *[_t(_cell(v)) for k, v in s.items() if k != "text"])
        return table
    table = Table("support", "focus", "verbatim", "stands on", "unsupported terms", "checked against",
                  title="support (overall: this trace holds no per-sentence results)")
    best = support.get("best") or {}
    table.add_row(_num(support.get("score")), _num(support.get("focus")), str(support.get("verbatim")),
                  f"[{best['n']}] {best['chunk_id']}" if best else "-",
                  _t(", ".join(support.get("unsupported_terms") or []) or "-"), _t(support.get("checked_against")))
    return table


def _cell(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.3f}"
    if isinstance(value, dict) and "n" in value:
        return f"[{value['n']}]"
    if isinstance(value, list):
        return ", ".join(_cell(v) for v in value)
    return str(value)


def _verdict(r: Any, detail: dict[str, Any]) -> Panel:
    verdict = detail.get("verdict") or {}
    confidence, threshold = detail.get("confidence", r.confidence), detail.get("threshold")
    if r.abstained is None:
        line = Text("a search: no answer, no verdict")
    elif not r.abstained:
        line = Text.assemble(("released", "bold green"), f": confidence {_num(confidence)}",
                             f" >= threshold {_num(threshold)}" if threshold is not None else "")
    elif verdict.get("stage") == "retrieval":
        line = Text.assemble(("abstained before generating", "bold yellow"),
                             f": even with perfect support the confidence {_num(confidence)} is under the threshold "
                             f"{_num(threshold)}, so the model was not asked. ", _t(r.abstain_reason))
    else:
        line = Text.assemble(("abstained after the support check", "bold yellow"), ": the draft was withdrawn; "
                             f"confidence {_num(confidence)} < threshold {_num(threshold)}. ", _t(r.abstain_reason))
    evidence = detail.get("evidence") or {}
    grid = Text("  ".join(f"{k} {_num(v)}" for k, v in evidence.items()), style="dim")
    answer = _t(r.answer if r.answer is not None else "(not stored)")
    return Panel(Group(line, grid, Text.assemble(("shown: ", "bold"), answer)), title="verdict", title_align="left")


def print_replay(result: ReplayResult, console: Console) -> None:
    b, a = result.before, result.after
    console.print(Text.assemble(("replay of ", "bold"), result.trace_id, "  ", _t(result.question)))
    console.print(Text.assemble(("change ", "dim"), _t(" ".join(a.changes))))
    table = Table("", f"before  ({b.prompt})", f"after  ({a.prompt}, {' '.join(a.changes)})", show_lines=True,
                  title="what changed" + ("  ·  the verdict flipped" if result.flipped else ""))
    for diff in result.differences():
        table.add_row(Text(diff.what, style="bold"), _lines(diff.before), _lines(diff.after))
    table.add_row(Text("latency ms", style="dim"), f"{b.latency_ms:,.0f}", f"{a.latency_ms:,.0f}")
    table.add_row(Text("tokens", style="dim"), f"{b.tokens[0]}+{b.tokens[1]}", f"{a.tokens[0]}+{a.tokens[1]}")
    console.print(table)
    if result.redacted:
        console.print(Text("the question was stored with PII replaced by placeholders, and is replayed that way",
                           style="yellow"))
    same = "agrees with" if result.recorded_matches else "differs from"
    console.print(Text(f"the rerun before the change {same} the trace as recorded (abstained "
                       f"{result.recorded.get('abstained')}, confidence {_num(result.recorded.get('confidence'))})",
                       style="dim"))


def print_explanation(why: ChunkExplanation, console: Console) -> None:
    console.print(Text.assemble(("why ", "bold"), _t(why.chunk_id), ("  for ", "dim"), _t(why.question)))
    if why.chunk is not None:
        console.print(Panel(_t(why.chunk.indexed_text, limit=600), title="the chunk", title_align="left"))
    for line in why.lines():
        console.print(Text.assemble("• ", _t(line)))
    if why.terms:
        table = Table("question term", "BM25 in this chunk", title="terms")
        for term, score in why.terms.items():
            table.add_row(_t(term), _num(score) if score > 0 else "absent")
        console.print(table)
    if why.top:
        console.print(Text("today's top: " + ", ".join(f"{i}. {cid} {s:.3f}" for i, (cid, s) in
                                                       enumerate(why.top, 1)), style="dim"))
