"""DS301 (model output parsed without handling the error) and DS302 (model output run as code).

Model output is the result of a generation call the engine recognises (openai, anthropic,
litellm, LangChain/llama-index models and the chains built on them), and anything read through
the shapes only a model response has, whatever its origin: `.choices[...]...`, tool-call
`.function.arguments`, `.output_text`. It flows on through names, containers, string
operations and unknown helpers (`extract_json(text)`), and stops at SDK serialisers
(`.model_dump_json()`, `.json()`, `json.dumps`), which always produce valid JSON.

DS301 sinks: json/orjson/ujson `loads`, `ast.literal_eval`, yaml loads, pydantic
`model_validate_json` / `parse_raw` / `validate_json`, unless inside a `try` whose handlers
catch the parse error (JSONDecodeError, ValueError, ValidationError, SyntaxError, YAMLError,
or Exception). DS302 sinks: `eval`, `exec`, `compile`, subprocess and `os.system`/`os.popen`,
`pandas.read_sql`, and `.execute(...)` on a database cursor, connection, session or engine.

Model text is followed into other functions and modules (taint/summaries.py), and enters where
a framework hands it in (rules/model_outputs.py: output parsers, tools, `.invoke().content`,
llama-index engines). A parse in a helper is judged at each call site's `try`. Left out: tools
dispatched by name from a registry of your own (`get_function(name)(**args)`), and model text
round-tripped through a queue or database.
"""

from __future__ import annotations

import ast

from dayshift.review.engine.context import RuleContext
from dayshift.review.engine.module import Scope
from dayshift.review.engine.project import Project
from dayshift.review.engine.units import Unit
from dayshift.review.rules._flow import BaseFlowRules, handled, run_family, scope_nodes
from dayshift.review.rules.model_outputs import framework_output, model_params
from dayshift.review.taint import EMPTY, Sink
from dayshift.review.taint.summaries import unwrap, wrap

MODEL = frozenset({"model"})
PARSERS = {"json.loads", "orjson.loads", "ujson.loads", "simplejson.loads", "ast.literal_eval", "yaml.safe_load",
           "yaml.load", "yaml.full_load", "json5.loads"}
PARSE_METHODS = {"model_validate_json", "parse_raw", "validate_json"}
PARSE_ERRORS = {"JSONDecodeError", "ValueError", "ValidationError", "SyntaxError", "YAMLError", "DecodeError",
                "OutputParserException", "TypeError", "JSONDecodeErr"}
RUNNERS = {"subprocess.run", "subprocess.call", "subprocess.check_call", "subprocess.check_output",
           "subprocess.Popen", "subprocess.getoutput", "subprocess.getstatusoutput", "os.system", "os.popen",
           "os.execv", "os.execvp", "os.execl", "os.execlp", "pandas.read_sql", "pandas.read_sql_query",
           "asyncio.create_subprocess_shell", "asyncio.create_subprocess_exec"}  # sqlalchemy.text: runs where executed
BUILTIN_CODE = {"eval", "exec", "compile"}
SQL_METHODS = {"execute", "executemany", "executescript", "read_sql", "read_sql_query"}
SQL_RECEIVERS = ("cursor", "cur", "conn", "connection", "db", "database", "session", "engine", "con", "sql")
SERIALISERS = {"json", "model_dump_json", "to_json", "model_dump", "dict", "to_dict"}
CODE_KWARGS = {"args", "sql", "query", "statement", "source", "cmd", "command", "code"}  # not query parameters
CLEAN_BUILTINS = {"len", "bool", "isinstance", "type", "id", "hash", "callable", "hasattr"}


class OutputRules(BaseFlowRules):
    trigger = "model"

    def source(self, unit: Unit, node: ast.expr) -> frozenset:
        found = _model_source(unit.ctx, node)
        return found or (MODEL if framework_output(unit.index, node) else EMPTY)

    def enter(self, unit: Unit, function: ast.AST, env: dict) -> dict:
        for name in model_params(unit.index, function):
            env[name] = env.get(name, EMPTY) | MODEL
        return env

    def transfer(self, unit: Unit, call: ast.Call, labels: frozenset) -> frozenset | None:
        """A serialiser's result is valid JSON (with the model's text inside): parsing it cannot
        fail, but what the parse returns is the model's again."""
        if isinstance(call.func, ast.Name) and call.func.id in CLEAN_BUILTINS:
            return EMPTY
        if _serialises(unit.ctx, call):
            return wrap("json", labels)
        if _parse_kind(unit.ctx, call):
            return unwrap("json", labels)
        return None

    def sinks(self, unit: Unit, call: ast.Call) -> list[tuple[list[ast.expr], str, str]]:
        ctx = unit.ctx
        if _parse_kind(ctx, call) and call.args and not handled(ctx, call, PARSE_ERRORS):
            return [([call.args[0]], "DS301",
                     f"{ctx.describe(call)} parses the model's output and nothing catches the parse error.")]
        if _runs_code(ctx, call):
            code = [*call.args[:1], *[k.value for k in call.keywords if k.arg in CODE_KWARGS]]
            return [(code, "DS302", f"{ctx.describe(call)} runs text that comes from the model.")]
        return []

    def handled_at(self, unit: Unit, call: ast.Call, sink: Sink) -> bool:
        """`try: data = parse_reply(text) except ValueError:` handles the parse inside parse_reply."""
        return sink.rule_id == "DS301" and handled(unit.ctx, call, PARSE_ERRORS)

    def entry(self, unit: Unit, scope: Scope) -> bool:
        index = unit.index
        for node in scope_nodes(unit, scope):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and model_params(index, node):
                return True
            if isinstance(node, (ast.Call, ast.Attribute)) and self.source(unit, node):
                return True
        return False


def check_project(project: Project, errors: dict[str, Exception]) -> None:
    run_family(project, OutputRules(), errors)


def _parse_kind(ctx: RuleContext, call: ast.Call) -> bool:
    if ctx.index.qualname(call.func) in PARSERS:
        return True
    return isinstance(call.func, ast.Attribute) and call.func.attr in PARSE_METHODS


def _runs_code(ctx: RuleContext, call: ast.Call) -> bool:
    func = call.func
    if isinstance(func, ast.Name) and func.id in BUILTIN_CODE:
        return func.id not in ctx.index.functions and func.id not in ctx.index.imports
    if ctx.index.qualname(func) in RUNNERS:
        return True
    if isinstance(func, ast.Attribute) and func.attr in SQL_METHODS:
        receiver = func.value
        if isinstance(receiver, ast.Call) and isinstance(receiver.func, ast.Attribute):
            return receiver.func.attr in {"cursor", "connect"}
        text = (ctx.index.dotted(receiver) or "").lower().rsplit(".", 1)[-1]
        return text.endswith(SQL_RECEIVERS)
    return False


def _model_source(ctx: RuleContext, node: ast.expr) -> frozenset:
    if isinstance(node, ast.Call):
        api = ctx.resolver.api_call(node)
        return MODEL if api is not None and api.generation else frozenset()
    if isinstance(node, ast.Attribute):
        if node.attr == "arguments" and isinstance(node.value, ast.Attribute) and \
                node.value.attr in {"function", "function_call"}:
            return MODEL
        if node.attr == "output_text":
            return MODEL
        probe: ast.expr = node.value
        while isinstance(probe, (ast.Attribute, ast.Subscript)):
            if isinstance(probe, ast.Attribute) and probe.attr == "choices":
                return MODEL
            probe = probe.value
    return frozenset()


def _serialises(ctx: RuleContext, call: ast.Call) -> bool:
    func = call.func
    if isinstance(func, ast.Attribute) and func.attr in SERIALISERS and not call.args:
        return True
    if isinstance(func, ast.Name) and func.id in CLEAN_BUILTINS:
        return True
    return ctx.index.qualname(func) in {"json.dumps", "orjson.dumps"}
