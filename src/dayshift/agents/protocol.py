"""How the loop talks to a model: every reply becomes tool calls or one final answer.

    JsonCalls   local readers: each step's request carries a JSON schema -- the union of one object per
                tool, {"name": <tool>, "arguments": <its Args>}, and {"name": "final_answer", "arguments":
                {"answer", "sources"}} -- which llama.cpp turns into a grammar, so every reply parses and
                names a real tool with arguments of the right types. `sources` may only name evidence ids
                the run has produced. The tools are listed in the system message (Qwen's <tools> format).
    ToolCalls   servers: the OpenAI tools protocol. The tools, and final_answer, go as `tools`; the calls
                come back in `tool_calls`, and each result goes back as a "tool" message. A server that
                passes the model's own call markup through as text (llama-cpp-python's server with a Qwen or
                Hermes template writes <tool_call>{...}</tool_call>) is read too; plain text is a final answer
                whose [Q1]-style markers are its sources.

On the last step a run may take, only final_answer is offered (JsonCalls: the schema holds nothing
else; ToolCalls: tool_choice names it), so a run that reaches its step budget still answers from
what it found.

Left out: the legacy `functions` protocol and parallel calls beyond MAX_CALLS_PER_TURN.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from pydantic import BaseModel

from dayshift.agents.tools.base import Tool
from dayshift.llm.base import ChatRequest, Completion, Message, ToolCall, ToolSpec

FINAL = "final_answer"
MAX_SOURCES = 10
MAX_CALLS_PER_TURN = 3
_HERMES_CALL = re.compile(r"<tool_call>\s*(\{.*?\})\s*(?:</tool_call>|$)", re.DOTALL)
_MARKER = re.compile(r"\[\s*([A-Z]\d+(?:\s*,\s*[A-Z]\d+)*)\s*\]")


@dataclass(frozen=True, slots=True)
class Call:
    name: str
    arguments: str  # JSON text, as the model wrote it
    id: str


@dataclass(frozen=True, slots=True)
class Final:
    answer: str
    sources: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Unreadable:
    reason: str  # what the model is told
    raw: str
    id: str | None = None  # the call it answers (the tools protocol: every call gets a result)


Decision = Call | Final | Unreadable


class ModelProtocol(Protocol):
    name: str  # "json" | "tools"

    def system(self, prompt_system: str, tools: Sequence[Tool]) -> str: ...

    def request(self, messages: Sequence[Message], tools: Sequence[Tool], *, evidence_ids: Sequence[str],
                final_only: bool, max_tokens: int, temperature: float, tools_only: bool = False) -> ChatRequest:
        """final_only: only final_answer may be called; tools_only: anything but final_answer."""
        ...

    def decide(self, completion: Completion) -> tuple[Message, list[Decision]]: ...

    def observation(self, call: Call | None, text: str) -> Message: ...


def parameters(args: type[BaseModel]) -> dict[str, Any]:
    """The JSON schema of a tool's arguments, as a model should see it: $refs inlined, titles dropped.

    String lengths are left to the Args model's validation and the step's max_tokens: as a grammar,
    a maxLength of n is n nested optional rules."""
    schema = args.model_json_schema()
    defs = schema.pop("$defs", {})

    def clean(node: Any) -> Any:
        if isinstance(node, dict):
            if "$ref" in node:
                return clean(defs[node["$ref"].rsplit("/", 1)[-1]])
            return {k: clean(v) for k, v in node.items()
                    if not (k == "title" and isinstance(v, str)) and k not in ("default", "maxLength", "minLength")}
        if isinstance(node, list):
            return [clean(v) for v in node]
        return node

    cleaned = clean(schema)
    cleaned.setdefault("type", "object")
    cleaned["additionalProperties"] = False
    return cleaned


def final_parameters(evidence_ids: Sequence[str]) -> dict[str, Any]:
    sources: dict[str, Any] = {"type": "array", "maxItems": min(MAX_SOURCES, len(evidence_ids))}
    if evidence_ids:
        sources["items"] = {"enum": list(evidence_ids)}
    else:
        sources["items"] = {"type": "string"}
    return {"type": "object", "properties": {
        "answer": {"type": "string", "description": "the answer, or 'Cannot be answered: ' and what is missing"},
        "sources": {**sources, "description": "ids of the results the answer uses, e.g. [\"Q1\", \"D2\"]"},
    }, "required": ["answer", "sources"], "additionalProperties": False}


FINAL_DESCRIPTION = ("Give the final answer to the task, with the ids of the results it uses. If the results do not "
                     "answer the task, the answer starts with 'Cannot be answered:'.")


def read_final(arguments: Any) -> Final | Unreadable:
    if not isinstance(arguments, dict) or not isinstance(arguments.get("answer"), str):
        return Unreadable('final_answer needs {"answer": "...", "sources": ["Q1"]}', json.dumps(arguments)[:500])
    sources = arguments.get("sources") or []
    if isinstance(sources, str):
        sources = [sources]
    ids = [str(s).strip().strip("[]") for s in sources if isinstance(s, str | int)]
    ids += [i for i in marker_ids(arguments["answer"]) if i not in ids]
    return Final(arguments["answer"].strip(), tuple(ids))


def marker_ids(text: str) -> list[str]:
    """Evidence ids cited inline: "... 3503 tracks [Q1]" -> ["Q1"]."""
    return [i.strip() for match in _MARKER.finditer(text) for i in match.group(1).split(",")]


class JsonCalls:
    """Grammar-constrained calls for local readers (llama.cpp): one JSON object per reply."""

    name = "json"

    def system(self, prompt_system: str, tools: Sequence[Tool]) -> str:
        listed = [json.dumps({"name": t.name, "description": t.description, "parameters": parameters(t.Args)},
                             ensure_ascii=False) for t in tools]
        listed.append(json.dumps({"name": FINAL, "description": FINAL_DESCRIPTION,
                                  "parameters": final_parameters(["Q1", "D1"])}, ensure_ascii=False))
        return (f"{prompt_system}\n\n# Tools\n\nReply with one JSON object per turn: "
                '{"name": <tool name>, "arguments": <its arguments>}.\n<tools>\n' + "\n".join(listed) + "\n</tools>")

    def schema(self, tools: Sequence[Tool], *, evidence_ids: Sequence[str], final_only: bool,
               tools_only: bool = False) -> dict[str, Any]:
        options = [] if final_only else [_call_schema(t.name, parameters(t.Args)) for t in tools]
        if not (tools_only and options):  # final_only leaves no options: final_answer is the one offered
            options.append(_call_schema(FINAL, final_parameters(evidence_ids)))
        return options[0] if len(options) == 1 else {"anyOf": options}

    def request(self, messages: Sequence[Message], tools: Sequence[Tool], *, evidence_ids: Sequence[str],
                final_only: bool, max_tokens: int, temperature: float, tools_only: bool = False) -> ChatRequest:
        return ChatRequest(messages=tuple(messages), max_tokens=max_tokens, temperature=temperature,
                           json_schema=self.schema(tools, evidence_ids=evidence_ids, final_only=final_only,
                                                   tools_only=tools_only))

    def decide(self, completion: Completion) -> tuple[Message, list[Decision]]:
        text = completion.text.strip()
        return Message("assistant", text), [_decision(text, call_id="call_1", cut=completion.finish_reason == "length")]

    def observation(self, call: Call | None, text: str) -> Message:
        return Message("user", text)


class ToolCalls:
    """The OpenAI tools protocol, for OpenAI-compatible servers."""

    name = "tools"

    def system(self, prompt_system: str, tools: Sequence[Tool]) -> str:
        return prompt_system

    def request(self, messages: Sequence[Message], tools: Sequence[Tool], *, evidence_ids: Sequence[str],
                final_only: bool, max_tokens: int, temperature: float, tools_only: bool = False) -> ChatRequest:
        specs = [] if final_only else [ToolSpec(t.name, t.description, parameters(t.Args)) for t in tools]
        tools_only = tools_only and bool(specs)
        if not tools_only:
            specs.append(ToolSpec(FINAL, FINAL_DESCRIPTION, final_parameters(evidence_ids)))
        choice = FINAL if final_only else "required" if tools_only else "auto"
        return ChatRequest(messages=tuple(messages), max_tokens=max_tokens, temperature=temperature,
                           tools=tuple(specs), tool_choice=choice)

    def decide(self, completion: Completion) -> tuple[Message, list[Decision]]:
        calls = list(completion.tool_calls)
        text = completion.text
        if not calls:
            calls = [ToolCall(f"call_{i}", *_name_and_arguments(m.group(1)))
                     for i, m in enumerate(_HERMES_CALL.finditer(text), 1)]
            text = _HERMES_CALL.sub("", text).strip() if calls else text
        if not calls:
            final = Final(text.strip(), tuple(marker_ids(text))) if text.strip() else Unreadable(
                "the reply was empty: call a tool, or call final_answer", "")
            return Message("assistant", completion.text), [final]
        calls = calls[:MAX_CALLS_PER_TURN]
        decisions = [_decision(json.dumps({"name": c.name, "arguments": _loads(c.arguments)}), call_id=c.id,
                               cut=completion.finish_reason == "length") for c in calls]
        return Message("assistant", text, tool_calls=tuple(calls)), decisions

    def observation(self, call: Call | None, text: str) -> Message:
        return Message("tool", text, tool_call_id=call.id if call else "call_0")


def _call_schema(name: str, arguments: dict[str, Any]) -> dict[str, Any]:
    return {"type": "object", "properties": {"name": {"const": name}, "arguments": arguments},
            "required": ["name", "arguments"], "additionalProperties": False}


def _decision(text: str, *, call_id: str, cut: bool) -> Decision:
    try:
        value = json.loads(text)
    except ValueError:
        reason = "the reply was cut off before its JSON ended" if cut else "the reply is not one JSON object"
        return Unreadable(f"{reason}: reply with one JSON object, {{\"name\": ..., \"arguments\": {{...}}}}", text[:500],
                          call_id)
    if not isinstance(value, dict) or not isinstance(value.get("name"), str):
        return Unreadable('the reply must be {"name": <tool>, "arguments": {...}}', text[:500], call_id)
    arguments = value.get("arguments", {})
    if value["name"] == FINAL:
        final = read_final(arguments)
        return final if isinstance(final, Final) else Unreadable(final.reason, final.raw, call_id)
    return Call(value["name"], json.dumps(arguments, ensure_ascii=False), call_id)


def _name_and_arguments(text: str) -> tuple[str, str]:
    value = _loads(text)
    if isinstance(value, dict):
        return str(value.get("name", "")), json.dumps(value.get("arguments", {}), ensure_ascii=False)
    return "", text


def _loads(text: str) -> Any:
    try:
        return json.loads(text) if text.strip() else {}
    except ValueError:
        return text  # kept as text: the loop reports it as arguments that are not JSON
