"""The trace debugger: show what one answer was made of, replay it under another prompt or setting, and
explain why a chunk was or was not retrieved. `dayshift traces` drives it; the web UI's trace view shows
the same detail (trace/detail.py).

    overrides  "retrieve.mode=keyword" -> Settings
    replay     a trace's question, answered again before and after a change, compared side by side
    why        one chunk against one trace's question: its terms, scores, ranks and the cut-offs
    views      the terminal rendering of a trace, a replay and an explanation
"""
