"""DS501 (a credential written into the source) and DS502 (a secret printed or logged).

DS501 looks at every string literal the parser finds (not docstrings):
  - provider key formats: OpenAI `sk-...` / `sk-proj-...`, Anthropic `sk-ant-...`, OpenRouter
    `sk-or-...`, AWS `AKIA...`, GitHub `ghp_`/`github_pat_`, Slack `xox?-`, Google `AIza...`,
    Hugging Face `hf_`, Groq `gsk_`, Replicate `r8_`, ElevenLabs `sk_<hex>`, Stripe `sk_live_`;
  - any long random-looking literal assigned or passed to a name that says it is a secret
    (`api_key=`, `OPENAI_API_KEY = `, `os.environ["X_TOKEN"] = `).
Placeholders are skipped: "YOUR_API_KEY", "sk-...", "<key>", "xxx", "changeme", "test", "dummy",
"example", anything with spaces, or too short or too regular to be a key.

DS502 looks at `print(...)` and logging calls (`logging.*`, `logger.*`, `log.*`) for an argument
that is a secret: a name or attribute called like one (`api_key`, `OPENAI_API_KEY`,
`client.api_key`, `token`, `password`), an environment read of one (`os.getenv("OPENAI_API_KEY")`),
or a local assigned from either. Masked forms are fine: `key[:4]`, `len(key)`, `bool(key)`,
`key is None`, `"set" if key else "missing"`.

Left out: secrets in non-Python files (.env, YAML, notebooks) and secrets logged through a
helper in another function.
"""

from __future__ import annotations

import ast
import math
import re

from dayshift.review.engine.context import RuleContext

# The formats are matched inside one string literal the AST found (not over source text).
KEY_FORMATS = re.compile(
    r"(?:sk-ant-(?:api|admin)\d\d-[A-Za-z0-9_\-]{20,}|sk-(?:proj-|svcacct-|admin-|or-v1-)?[A-Za-z0-9_\-]{20,}"
    r"|AKIA[0-9A-Z]{16}|gh[pousr]_[A-Za-z0-9]{36}|github_pat_[A-Za-z0-9_]{22,}|xox[abprs]-[A-Za-z0-9\-]{10,}"
    r"|AIza[0-9A-Za-z_\-]{35}|hf_[A-Za-z0-9]{30,}|gsk_[A-Za-z0-9]{40,}|r8_[A-Za-z0-9]{30,}"
    r"|sk_[0-9a-f]{40,}|(?:sk|rk)_live_[0-9A-Za-z]{20,})")
SECRET_NAME = re.compile(r"(?:^|_)(?:api_?key|apikey|secret(?:_key)?|password|passwd|pwd|access_token|auth_token|"
                         r"refresh_token|bearer_token|private_key|client_secret|credentials?|"
                         r"(?:api|bot|hf|github|gh|slack|session|secret|id)_token)(?:$|_)",
                         re.IGNORECASE)
NOT_SECRET_NAME = re.compile(r"(?:^|_)(?:id|url|path|file|name|base|version|endpoint|env|var|header|type|"
                             r"count|limit|max|min|len|length|size|tokens|field|prefix|policy|prompt|label|"
                             r"hint|regex|pattern|required|strength|hash|hashed|hasher|input)$", re.IGNORECASE)
# Keys their vendors publish in client code on purpose (PostHog project keys, Stripe publishable keys).
PUBLISHABLE = ("phc_", "pk_live_", "pk_test_")
PLACEHOLDER = re.compile(r"your|xxx|\.\.\.|<|>|\{|changeme|example|dummy|fake|placeholder|replace|insert|test|"
                         r"sample|enter|here|none|null|empty|todo|secret_key_api|\*", re.IGNORECASE)
LOG_METHODS = {"debug", "info", "warning", "warn", "error", "exception", "critical", "log", "fatal", "success",
               "trace"}
MASKING = {"len", "bool", "isinstance", "type", "hash", "id", "callable", "repr_masked"}


def check(ctx: RuleContext) -> None:
    docstrings = _docstring_ids(ctx.index.tree)
    for node in ctx.index.strings:
        if id(node) in docstrings or not isinstance(node.value, str):
            continue
        why = _literal_secret(ctx, node)
        if why:
            ctx.report("DS501", node, why)
    for call in ctx.index.calls:
        if _is_log_call(ctx, call):
            leak = _leaked(ctx, call)
            if leak:
                ctx.report("DS502", call, f"{ctx.describe(call)} writes {leak} to the output or logs.")


def _docstring_ids(tree: ast.AST) -> set[int]:
    found: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)) and node.body:
            first = node.body[0]
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant):
                found.add(id(first.value))
    return found


def _entropy(text: str) -> float:
    counts: dict[str, int] = {}
    for ch in text:
        counts[ch] = counts.get(ch, 0) + 1
    return -sum(c / len(text) * math.log2(c / len(text)) for c in counts.values())


def _random_enough(text: str) -> bool:
    return (len(text) >= 20 and " " not in text and any(c.isdigit() for c in text)
            and any(c.isalpha() for c in text) and _entropy(text) >= 3.5 and not PLACEHOLDER.search(text))


def _literal_secret(ctx: RuleContext, node: ast.Constant) -> str | None:
    text = node.value
    match = KEY_FORMATS.search(text)
    if match and _random_enough(match.group(0)[4:] if len(match.group(0)) > 24 else match.group(0)):
        return f"a {_vendor(match.group(0))} key is written into the source ({match.group(0)[:7]}...)."
    name = _target_name(ctx, node)
    if name and SECRET_NAME.search(name) and not NOT_SECRET_NAME.search(name) and _random_enough(text) \
            and not text.startswith(PUBLISHABLE):
        return f"{name} is set to a literal that looks like a real credential."
    return None


def _vendor(key: str) -> str:
    for prefix, vendor in (("sk-ant-", "Anthropic"), ("sk-or-", "OpenRouter"), ("sk-", "OpenAI"), ("AKIA", "AWS"),
                           ("gh", "GitHub"), ("xox", "Slack"), ("AIza", "Google"), ("hf_", "Hugging Face"),
                           ("gsk_", "Groq"), ("r8_", "Replicate"), ("sk_live_", "Stripe"), ("sk_", "ElevenLabs")):
        if key.startswith(prefix):
            return vendor
    return "provider"


def _target_name(ctx: RuleContext, node: ast.Constant) -> str | None:
    """The name a literal is stored in or passed as: `api_key = "..."`, `f(api_key="...")`,
    `os.environ["OPENAI_API_KEY"] = "..."`, `{"api_key": "..."}`."""
    parent = ctx.index.parent.get(id(node))
    if isinstance(parent, ast.keyword):
        return parent.arg
    if isinstance(parent, (ast.Assign, ast.AnnAssign)) and parent.value is node:
        targets = parent.targets if isinstance(parent, ast.Assign) else [parent.target]
        for target in targets:
            if isinstance(target, ast.Name):
                return target.id
            if isinstance(target, ast.Attribute):
                return target.attr
            if isinstance(target, ast.Subscript) and isinstance(target.slice, ast.Constant):
                return str(target.slice.value)
    if isinstance(parent, ast.Dict):
        for k, v in zip(parent.keys, parent.values):
            if v is node and isinstance(k, ast.Constant) and isinstance(k.value, str):
                return k.value
    return None


def _is_log_call(ctx: RuleContext, call: ast.Call) -> bool:
    func = call.func
    if isinstance(func, ast.Name):
        return func.id == "print" and "print" not in ctx.index.functions
    if isinstance(func, ast.Attribute) and func.attr in LOG_METHODS:
        receiver = (ctx.index.dotted(func.value) or "").lower()
        return receiver == "logging" or receiver.rsplit(".", 1)[-1].endswith(("log", "logger", "_logger"))
    return False


def _leaked(ctx: RuleContext, call: ast.Call) -> str | None:
    scope = ctx.index.enclosing_scope(call)
    for arg in [*call.args, *[k.value for k in call.keywords if k.arg not in {"exc_info", "extra", "file", "end",
                                                                           "sep", "flush"}]]:
        found = _secret_in(ctx, arg, scope, depth=0)
        if found:
            return found
    return None


def _secret_in(ctx: RuleContext, node: ast.expr, scope, depth: int) -> str | None:
    if depth > 4:
        return None
    if isinstance(node, ast.JoinedStr):
        for value in node.values:
            if isinstance(value, ast.FormattedValue):
                found = _secret_in(ctx, value.value, scope, depth + 1)
                if found:
                    return found
        return None
    if isinstance(node, ast.BinOp):
        return _secret_in(ctx, node.left, scope, depth + 1) or _secret_in(ctx, node.right, scope, depth + 1)
    if isinstance(node, ast.IfExp):
        return _secret_in(ctx, node.body, scope, depth + 1) or _secret_in(ctx, node.orelse, scope, depth + 1)
    if isinstance(node, (ast.Tuple, ast.List)):
        return next((f for e in node.elts if (f := _secret_in(ctx, e, scope, depth + 1))), None)
    if isinstance(node, ast.Call):
        func = node.func
        if isinstance(func, ast.Name) and func.id in {"str", "repr", "format"} and node.args:
            return _secret_in(ctx, node.args[0], scope, depth + 1)
        env_name = _env_read(ctx, node)
        if env_name and _secret_env(env_name):
            return f"the value of ${env_name}"
        return None
    if isinstance(node, ast.Subscript):
        if isinstance(node.slice, ast.Slice):
            return None  # key[:4]: masked
        env_name = _env_read(ctx, node)
        if env_name and _secret_env(env_name):
            return f"the value of ${env_name}"
        return None
    if isinstance(node, (ast.Name, ast.Attribute)):
        name = node.id if isinstance(node, ast.Name) else node.attr
        if SECRET_NAME.search(name) and not NOT_SECRET_NAME.search(name):
            return f"`{ctx.describe(node)}`"
        if isinstance(node, ast.Name):
            for binding in ctx.index.lookup(node, scope):
                found = _secret_in(ctx, binding.value, binding.scope, depth + 1)
                if found:
                    return found
    return None


def _env_read(ctx: RuleContext, node: ast.expr) -> str | None:
    """`os.getenv("X")`, `os.environ.get("X")`, `os.environ["X"]` -> "X"."""
    if isinstance(node, ast.Call):
        q = ctx.index.qualname(node.func) or ""
        if q in {"os.getenv", "os.environ.get"} and node.args and isinstance(node.args[0], ast.Constant):
            return str(node.args[0].value)
    if isinstance(node, ast.Subscript) and (ctx.index.qualname(node.value) or "") == "os.environ" \
            and isinstance(node.slice, ast.Constant):
        return str(node.slice.value)
    return None


def _secret_env(name: str) -> bool:
    upper = name.upper()
    if upper.endswith(("_ID", "_URL", "_BASE", "_ENDPOINT", "_VERSION", "_PATH", "_FILE", "_NAME", "_MODEL")):
        return False
    return any(word in upper for word in ("KEY", "TOKEN", "SECRET", "PASSWORD", "PASSWD"))
