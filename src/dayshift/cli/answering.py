"""Showing answers in the terminal: the draft as it streams, then the verdict and its sources."""

from __future__ import annotations

import json
from typing import Any

from rich.console import Console
from rich.text import Text

from dayshift.answer.abstain import FEATURES
from dayshift.answer.answerer import Answer, AnswerStream


def stream_answer(stream: AnswerStream, console: Console, *, show_draft: bool = True) -> Answer:
    """Print draft pieces as they arrive, then the verdict; returns the Answer."""
    drafted = False
    for piece in stream:
        if show_draft:
            if not drafted:
                console.print("[dim]draft:[/] ", end="")
            console.print(piece, end="", style="dim", highlight=False, markup=False)
            drafted = True
    if drafted:
        console.print()
    answer = stream.answer
    assert answer is not None
    show_verdict(answer, console, drafted=drafted)
    return answer


def show_verdict(answer: Answer, console: Console, *, drafted: bool) -> None:
    if answer.abstained:
        if drafted and answer.draft:
            console.print("[yellow]draft withdrawn.[/]")
        console.print(f"[bold yellow]{answer.text}[/]", highlight=False)
        if answer.quote is not None:
            console.print(f"  [{answer.quote.n}] {answer.quote.location}  [dim]{answer.quote.chunk.source}[/]",
                          highlight=False)
    else:
        console.print(Text(answer.text, style="bold"))  # the verdict: the draft above was only a draft
        for source in answer.cited:
            console.print(f"  [{source.n}] {source.location}  [dim]{source.chunk.source}[/]", highlight=False)
    usage = answer.completion.usage if answer.completion else None
    spent = f", {usage.input_tokens}+{usage.output_tokens} tokens, ${answer.completion.cost_usd:.5f}" if usage else ""
    console.print(f"[dim]confidence {answer.confidence:.2f}{spent}, prompt {answer.prompt}[/]")


def answer_json(answer: Answer) -> dict[str, Any]:
    c = answer.completion
    return {
        "question": answer.question, "answer": answer.text, "data": answer.data, "abstained": answer.abstained,
        "reason": answer.reason,
        "confidence": answer.confidence, "draft": answer.draft, "prompt": answer.prompt,
        "evidence": {name: getattr(answer.evidence, name) for name in FEATURES},
        "support": [{"sentence": s.text, "sources": list(s.sources), "score": round(s.score, 4), "verbatim": s.verbatim,
                     "supported": s.supported, "unsupported_terms": list(s.unsupported_terms)}
                    for s in (answer.support.sentences if answer.support else ())],
        "supported": answer.supported,
        "citations": [
            {"n": s.n, "chunk_id": s.chunk.chunk_id, "doc_id": s.chunk.doc_id, "source": s.chunk.source,
             "title": s.chunk.title, "section": list(s.chunk.section), "page": s.chunk.page, "where": s.location}
            for s in answer.cited
        ],
        "model": c.model if c else None,
        "usage": {"input_tokens": c.usage.input_tokens, "output_tokens": c.usage.output_tokens,
                  "source": c.usage.source} if c else None,
        "cost_usd": c.cost_usd if c else 0.0,
    }


def print_json(answer: Answer) -> None:
    print(json.dumps(answer_json(answer), indent=2))
