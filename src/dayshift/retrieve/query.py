"""The text of a query as each retriever sees it.

The keyword side reads the whole query: every term counts, and BM25 over a few
hundred terms costs milliseconds. The dense side embeds it, and the encoder's
cost grows with the query's length (attention is quadratic in it), while a
sentence embedding of a 200-word argument is already fixed by its opening:
`dense_query` keeps the first `max_tokens` model tokens, cut at a token boundary.
ADR 0003 (revision) has the measurements behind the default.

Left out: summarising a long query with a language model (a model call on the
query path costs more than it could save) and keyphrase selection.
"""

from __future__ import annotations

from dayshift.embed.base import Tokenizer


def dense_query(query: str, *, tokenizer: Tokenizer, max_tokens: int | None) -> str:
    """`query` cut after its first `max_tokens` tokens (the whole query when None or shorter)."""
    if not max_tokens or len(query) <= max_tokens:  # a token covers at least one character
        return query
    spans = tokenizer.token_spans(query)
    if len(spans) <= max_tokens:
        return query
    return query[: spans[max_tokens - 1][1]]
