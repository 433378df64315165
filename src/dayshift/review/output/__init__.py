"""Report formats: `text` for people, `json` for scripts, `sarif` (2.1.0) for code-scanning tools."""

from __future__ import annotations

from dayshift.review.engine.model import Report
from dayshift.review.output.jsonfmt import render_json
from dayshift.review.output.sarif import render_sarif
from dayshift.review.output.text import render_text

FORMATS = {"text": render_text, "json": render_json, "sarif": render_sarif}


def render(report: Report, fmt: str) -> str:
    return FORMATS[fmt](report)


__all__ = ["FORMATS", "render", "render_json", "render_sarif", "render_text"]
