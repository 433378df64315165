"""Every rule's id, family and text, in one table, so outputs and docs never import the analysis.

Ids: DS0xx the review itself, DS1xx timeouts, DS2xx retries, DS3xx model output, DS4xx user
data, DS5xx secrets, DS6xx prompts, DS7xx streaming, DS8xx agent loops.
"""

from __future__ import annotations

from dayshift.review.engine.model import Rule

FAMILIES = ("timeout", "retry", "output", "privacy", "secrets", "prompt", "streaming", "agent-loop")

_DOCS = {
    "review": "docs/review/README.md", "timeout": "docs/review/timeouts.md", "retry": "docs/review/retries.md",
    "output": "docs/review/output.md", "privacy": "docs/review/privacy.md", "secrets": "docs/review/secrets.md",
    "prompt": "docs/review/prompts.md", "streaming": "docs/review/streaming.md",
    "agent-loop": "docs/review/agent-loops.md",
}


def _rule(id_: str, family: str, name: str, summary: str, why: str, fix: str, level: str = "warning") -> Rule:
    return Rule(id_, family, name, summary, why, fix, f"{_DOCS[family]}#{id_.lower()}", level)


RULES: dict[str, Rule] = {r.id: r for r in [
    _rule("DS000", "review", "syntax-error", "The file is not valid Python, so it was not reviewed.",
          "Nothing in a file that does not parse is checked.",
          "Fix the syntax error, or exclude the file in [tool.dayshift.review] exclude.", "error"),
    _rule("DS001", "review", "suppression-without-reason", "An ignore comment gives no reason.",
          "A suppression without a reason cannot be reviewed: the next reader cannot tell a checked "
          "exception from a silenced bug. It does not suppress anything.",
          "Write why after the brackets: `# dayshift: ignore[DS101] the SDK default of 600 s is wanted here`."),
    _rule("DS002", "review", "unused-suppression", "An ignore comment matches no finding on its line.",
          "A stale suppression hides the next real finding on that line.",
          "Delete the comment, or move it to the line the finding is reported on.", "note"),
    _rule("DS101", "timeout", "call-without-timeout", "An LLM or HTTP call can wait without a bound.",
          "A hung connection holds the request, its worker and its user for the library's default "
          "(600 s for the openai, anthropic and litellm SDKs; forever for requests; 300 s for aiohttp). "
          "Under load, stuck calls exhaust the worker pool and the whole service stops answering.",
          "Set a timeout where the client is built (`OpenAI(timeout=30)`, `ChatOpenAI(timeout=30)`, "
          "`aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30))`), or on the call "
          "(`timeout=30`, `client.with_options(timeout=30)`, `requests.get(url, timeout=10)`)."),
    _rule("DS102", "timeout", "infinite-timeout", "A timeout is set to None: the call may wait forever.",
          "`timeout=None` turns off the library's own bound, so one silent upstream blocks the caller forever.",
          "Give a number of seconds (`timeout=30`, `httpx.Timeout(30, connect=5)`).", "error"),
    _rule("DS201", "retry", "model-call-without-retry",
          "A model call in a request path has no retry or backoff, and the client's max_retries is 0 or unset.",
          "Rate limits (429), overloads (529) and dropped connections are routine for hosted models; "
          "without a retry with backoff each one becomes an error page for a user.",
          "Set `max_retries` on the client (`OpenAI(max_retries=3)`, litellm `num_retries=3`), or wrap the "
          "call in a retry with exponential backoff and jitter (tenacity `@retry(wait=wait_random_exponential(...), "
          "stop=stop_after_attempt(3))`)."),
    _rule("DS301", "output", "unchecked-model-json",
          "The model's output is parsed (json.loads, model_validate_json, literal_eval) without handling the error.",
          "Models return malformed or truncated JSON (a `max_tokens` cut, a code fence, a chatty preamble) "
          "often enough to matter; an unhandled JSONDecodeError or ValidationError turns it into a 500.",
          "Catch the parse error and retry or fall back (`except (json.JSONDecodeError, ValidationError)`), "
          "or use structured outputs (`client.chat.completions.parse(response_format=Model)`)."),
    _rule("DS302", "output", "model-output-as-code",
          "The model's text runs as code: eval/exec, a shell command or SQL built from it.",
          "Anything that can steer the model (a prompt injection in a retrieved page, a user message) then "
          "runs code or queries with this process's rights.",
          "Never run model text directly: parse it into a closed set of actions, use parameterised SQL with "
          "an allow-listed query shape, or execute in a sandbox with no credentials.", "error"),
    _rule("DS401", "privacy", "user-data-to-third-party",
          "User data from a request reaches a third-party model or telemetry call without redaction.",
          "Request bodies, chat messages and uploads carry names, e-mails and account numbers; sent as they "
          "are, they land in a vendor's logs and traces, outside your retention and deletion controls.",
          "Redact first (`text = redact_pii(text)`: dayshift.llm.pii, Presidio), send a pseudonymous id "
          "instead of the value, or suppress with the reason it is allowed (a data processing agreement, "
          "a zero-retention endpoint)."),
    _rule("DS501", "secrets", "secret-in-code", "A credential is written into the source.",
          "Keys in code end up in git history, forks, CI logs and screenshots; revoking them is the only fix.",
          "Revoke the key, then read it from the environment or a secret store "
          "(`OpenAI()` reads OPENAI_API_KEY itself).", "error"),
    _rule("DS502", "secrets", "secret-in-logs", "An API key or other secret is printed or logged.",
          "Logs are shipped, indexed and kept far longer than secrets should live, and many more people can "
          "read them.",
          "Log whether a key is set (`bool(key)`) or its last four characters, never the key."),
    _rule("DS601", "prompt", "inline-prompt-in-handler",
          "A prompt is built with an f-string inside a request handler.",
          "A prompt in handler code has no version, no review trail and no eval; request data formatted "
          "into it also mixes instructions with user text, the opening for prompt injection.",
          "Move the prompt to a versioned prompt file (dayshift: `prompts/<name>/vN.md`, rendered by the "
          "registry) and pass user text as its own message."),
    _rule("DS602", "prompt", "unbounded-max-tokens", "A model call or model object has no output cap.",
          "Without `max_tokens` one runaway generation costs the model's whole context window in money and "
          "seconds, and a degenerate repetition is only stopped by the timeout.",
          "Set `max_tokens` (or `max_completion_tokens` / `max_output_tokens`) to what the answer needs."),
    _rule("DS701", "streaming", "stream-without-usage", "A streamed model call does not ask for token usage.",
          "OpenAI-compatible streams report no usage unless asked, so streamed calls are missing from cost "
          "accounting, budgets and per-tenant billing.",
          "Pass `stream_options={\"include_usage\": True}` (LangChain: `stream_usage=True`) and book the "
          "usage in the final chunk."),
    _rule("DS801", "agent-loop", "unbounded-agent-loop",
          "A loop calls a model until the model decides to stop, with no step or cost bound.",
          "A model that keeps asking for tools, or an API that keeps failing, spins the loop forever: an "
          "unbounded bill and a request that never ends.",
          "Bound the loop: `for step in range(max_steps):`, or a budget check that breaks out, and return a "
          "clear 'step limit reached' result."),
]}


def rule(rule_id: str) -> Rule:
    return RULES[rule_id]


def rules_of_family(family: str) -> list[Rule]:
    return [r for r in RULES.values() if r.family == family]
