"""The reader checks its own work with yes/no questions; how sure is it of "yes"?

    text_answers: prompt messages + [user] "Does the text answer the question? Answer yes or no."
    self_check:   prompt messages + [assistant] draft + [user] "Does the text say exactly this? ..."
      --one token, its first-step distribution--> P(yes) / (P(yes) + P(no))

`text_answers` asks about the question, not the draft, so a draft copied from a
passage about something else gains nothing from being copied well; on SQuAD 2.0
it separates answerable from unanswerable questions better than the draft's own
check (docs/decisions/0009-reader.md). A local reader keeps the prompt in its
cache, so each check reads a dozen new tokens, not the sources again. Checks run
only where the backend reports token log-probabilities; elsewhere the feature
stays at 1 (no evidence either way).
Left out: a second, different model as the judge (none ships offline).
"""

from __future__ import annotations

import math
from dataclasses import replace

from dayshift.llm.base import CancelToken, ChatRequest, Message, StreamingLLM

QUESTION = "Does the text say exactly this? Answer yes or no."
ANSWERS = "Does the text answer the question? Answer yes or no."


def self_check(
    llm: StreamingLLM, request: ChatRequest, draft: str, *, tenant: str | None, cancel: CancelToken | None
) -> float | None:
    """P(yes) of the reader, asked about its own draft; None when the backend gives no log-probabilities."""
    return ask_yes_no(llm, request, (Message("assistant", draft.strip()), Message("user", QUESTION)),
                  tenant=tenant, cancel=cancel)


def text_answers(
    llm: StreamingLLM, request: ChatRequest, *, tenant: str | None, cancel: CancelToken | None
) -> float | None:
    """P(yes) of the reader, asked whether the text it was given answers the question at all."""
    return ask_yes_no(llm, request, (Message("user", ANSWERS),), tenant=tenant, cancel=cancel)


def ask_yes_no(
    llm: StreamingLLM, request: ChatRequest, extra: tuple[Message, ...], *, tenant: str | None,
    cancel: CancelToken | None,
) -> float | None:
    """P(yes) / (P(yes) + P(no)) of the reader's first token after `extra`; None without log-probabilities."""
    asked = replace(request, messages=(*request.messages, *extra), max_tokens=1, stop=(), suppress_first=(),
                    json_schema=None, copy_from=())
    call = llm.stream(asked, cancel=cancel, tenant=tenant)
    for _ in call:
        pass
    result = call.result
    if result is None or result.logprobs is None or not result.logprobs.first:
        return None
    yes = sum(math.exp(lp) for text, lp in result.logprobs.first if text.strip().lower().startswith("yes"))
    no = sum(math.exp(lp) for text, lp in result.logprobs.first if text.strip().lower().startswith("no"))
    return yes / (yes + no) if yes + no > 0 else None
