"""Chat templates dayshift ships, so that a model file's own template is never run.

    render_prompt("chatml", messages) -> [("<|im_start|>system\\n", True), ("You answer ...", False), ...]

Each piece says whether it is control text (tokenised with the model's special
tokens) or content (tokenised as plain text): a source that contains
"<|im_end|>" stays words, and cannot close its message and open another.

Left out: templates of model families dayshift does not ship (Llama 3, Gemma,
Mistral); a GGUF given by path may use its own template instead.
"""

from __future__ import annotations

from collections.abc import Sequence

from dayshift.errors import ConfigError
from dayshift.llm.base import Message

Piece = tuple[str, bool]  # (text, is control text)


def _chatml(messages: Sequence[Message]) -> list[Piece]:
    pieces: list[Piece] = []
    for message in messages:
        pieces += [(f"<|im_start|>{message.role}\n", True), (message.content, False), ("<|im_end|>\n", True)]
    return [*pieces, ("<|im_start|>assistant\n", True)]


TEMPLATES = {"chatml": _chatml}


def render_prompt(template: str, messages: Sequence[Message]) -> list[Piece]:
    try:
        render = TEMPLATES[template]
    except KeyError:
        raise ConfigError(
            f"unknown chat template {template!r}: set DAYSHIFT_LLM__CHAT_TEMPLATE to one of "
            f"{', '.join(TEMPLATES)}, or to \"gguf\" to use the model file's own"
        ) from None
    return render(messages)
