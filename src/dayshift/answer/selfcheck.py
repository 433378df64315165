"""The reader checks its own draft: asked whether the text states that answer, how sure is it of "yes"?

    prompt messages + [assistant] draft + [user] "Does the text say exactly this? Answer yes or no."
      --one token, its first-step distribution--> P(yes) / (P(yes) + P(no))

A local reader keeps the prompt and draft in its cache, so the check reads a
dozen new tokens, not the sources again. It runs only where the backend reports
token log-probabilities; elsewhere the feature stays at 1 (no evidence either way).
Left out: a second, different model as the judge (none ships offline).
"""

from __future__ import annotations

import math
from dataclasses import replace

from dayshift.llm.base import CancelToken, ChatRequest, Message, StreamingLLM

QUESTION = "Does the text say exactly this? Answer yes or no."


def self_check(
    llm: StreamingLLM, request: ChatRequest, draft: str, *, tenant: str | None, cancel: CancelToken | None
) -> float | None:
    """P(yes) of the reader, asked about its own draft; None when the backend gives no log-probabilities."""
    asked = replace(
        request, messages=(*request.messages, Message("assistant", draft.strip()), Message("user", QUESTION)),
        max_tokens=1, stop=(), suppress_first=(), json_schema=None,
    )
    call = llm.stream(asked, cancel=cancel, tenant=tenant)
    for _ in call:
        pass
    result = call.result
    if result is None or result.logprobs is None or not result.logprobs.first:
        return None
    yes = sum(math.exp(lp) for text, lp in result.logprobs.first if text.strip().lower().startswith("yes"))
    no = sum(math.exp(lp) for text, lp in result.logprobs.first if text.strip().lower().startswith("no"))
    return yes / (yes + no) if yes + no > 0 else None
