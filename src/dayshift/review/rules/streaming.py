"""DS701: a streamed model call that does not ask for token usage.

OpenAI-compatible streams (openai v1 chat and completions, Azure, litellm) carry usage only when
asked with `stream_options={"include_usage": True}`; the `chat.completions.stream(...)` helper
needs the same. The v0 openai API cannot report usage on a stream at all. LangChain's
`ChatOpenAI(streaming=True)` needs `stream_usage=True`. Anthropic streams and the Responses
API report usage in their final events, so they are not reported.

A `stream=` given as a variable counts as streaming (the code streams at least sometimes);
`stream_options` given as anything but a dict literal counts as asking.
"""

from __future__ import annotations

import ast

from dayshift.review.engine.context import RuleContext


def check(ctx: RuleContext) -> None:
    for api in ctx.api_calls():
        if not api.generation or api.kind not in {"openai", "openai-module", "openai-v0", "litellm"}:
            continue
        if "responses" in api.path:
            continue
        helper = api.path[-1:] == ("stream",)
        stream = api.kwargs.get("stream")
        streaming = helper or (stream is not None and not (isinstance(stream, ast.Constant) and not stream.value))
        if not streaming:
            continue
        if api.kind == "openai-v0":
            ctx.report("DS701", api.call, f"{ctx.describe(api.call)} streams on the v0 API, which reports no token "
                                          "usage: move to the v1 client with stream_options include_usage.")
            continue
        if not _asks_usage(api.kwargs.get("stream_options")):
            ctx.report("DS701", api.call, f"{ctx.describe(api.call)} streams without "
                                          "stream_options={\"include_usage\": True}: its tokens are never counted.")
    for call in ctx.index.calls:
        q = ctx.index.qualname(call.func)
        spec = ctx.resolver.construct(call, q, ctx.index.enclosing_scope(call)) if q else None
        if spec is None or spec.kind != "langchain" or spec.vendor != "openai":
            continue
        streaming = spec.arg("streaming")
        if isinstance(streaming, ast.Constant) and streaming.value is True and not _true(spec.arg("stream_usage")):
            ctx.report("DS701", call, f"{ctx.describe(call)} streams without stream_usage=True: LangChain then "
                                      "reports no token usage for streamed calls.")


def _true(node: ast.expr | None) -> bool:
    return node is not None and not (isinstance(node, ast.Constant) and not node.value)


def _asks_usage(node: ast.expr | None) -> bool:
    if node is None:
        return False
    if not isinstance(node, ast.Dict):
        return True
    for key, value in zip(node.keys, node.values):
        if isinstance(key, ast.Constant) and key.value == "include_usage":
            return _true(value)
    return False
