"""Where a model's output enters code without a model call in sight: the framework hands it in.

    class ActionParser(BaseOutputParser):        # LangChain's output-parser interface (and the
        def parse(self, text: str): ...          # frameworks that copy it): `text` is the model's
    @tool                                        # LangChain tool, OpenAI Agents @function_tool:
    def run_sql(query: str): ...                 # the model chose every argument
    FunctionTool.from_defaults(fn=lookup)        # llama-index, StructuredTool.from_function(func=...),
    Agent(functions=[transfer, refund])          # swarm: likewise, for the functions registered
    Agent(tools=[function_tool(self.search)])    # the OpenAI Agents SDK, a function or a method
    class Search(BaseTool):                      # a LangChain tool class: _run's arguments
        def _run(self, query: str): ...
    llm.invoke(messages).content                 # a chat model's AIMessage text, whatever `llm` is
    def answer(llm: BaseChatModel): llm.invoke(q)   # a parameter typed as a LangChain/llama-index model
    engine = index.as_query_engine(); engine.query(q).response   # llama-index Response

Left out: tools registered by a name looked up at run time, or through a list built elsewhere.
"""

from __future__ import annotations

import ast

from dayshift.review.engine.module import ModuleIndex, Scope

PARSER_METHODS = {"parse", "aparse", "parse_result", "aparse_result", "parse_with_prompt"}
TOOL_DECORATORS = {"langchain.tools.tool", "langchain_core.tools.tool", "langchain.agents.tool",
                   "langchain.tools.convert.tool", "langchain_core.tools.convert.tool", "agents.function_tool",
                   "llama_index.core.tools.FunctionTool.from_defaults"}
TOOL_FACTORIES = {"from_defaults": "fn", "from_function": "func", "StructuredTool": "func", "Tool": "func"}
TOOL_LISTS = {"functions", "tools"}  # swarm Agent(functions=[...]), openai-agents Agent(tools=[...])
TOOL_METHODS = {"_run", "_arun"}
CHAT_METHODS = {"invoke", "ainvoke", "predict_messages", "apredict_messages"}
MODEL_TYPES = {"BaseChatModel", "BaseLanguageModel", "BaseLLM", "LLM", "ChatOpenAI", "AzureChatOpenAI",
               "ChatAnthropic", "OpenAI", "Anthropic", "LiteLLM", "FunctionCallingLLM"}
ENGINE_METHODS = {"query", "aquery", "chat", "achat", "stream_chat", "astream_chat"}
ENGINE_FACTORIES = {"as_query_engine", "as_chat_engine"}
RUN_MANAGER = {"run_manager", "callbacks", "config"}


def model_params(index: ModuleIndex, function: ast.AST) -> list[str]:
    """Parameters a framework fills with the model's output: an output parser's text, a tool's arguments."""
    scope = index.scopes.get(id(function))
    if scope is None:
        return []
    names = _names(function)
    if id(function) in tools(index):
        return [n for n in names if n not in RUN_MANAGER]
    if scope.cls is not None:
        bases = _bases(index, scope.cls)
        if function.name in PARSER_METHODS and any(b.endswith("OutputParser") for b in bases):  # type: ignore[attr-defined]
            return names[:1]
        if function.name in TOOL_METHODS and any(b.endswith("BaseTool") for b in bases):  # type: ignore[attr-defined]
            return [n for n in names if n not in RUN_MANAGER]
    return []


def tools(index: ModuleIndex) -> set[int]:
    """Functions of this module registered as model tools (computed once per module)."""
    cached = getattr(index, "_model_tools", None)
    if cached is not None:
        return cached
    found: set[int] = set()
    for scope in index.top_functions.values():
        for deco in scope.node.decorator_list:  # type: ignore[union-attr]
            target = deco.func if isinstance(deco, ast.Call) else deco
            if index.qualname(target) in TOOL_DECORATORS:
                found.add(scope.id)
    langchain = any(q.startswith(("langchain", "llama_index", "swarm", "agents")) for q in index.imports.values())
    for call in index.calls if langchain or found else []:
        func = call.func
        name = func.attr if isinstance(func, ast.Attribute) else func.id if isinstance(func, ast.Name) else ""
        registered: list[ast.expr] = []
        if name in TOOL_FACTORIES:
            keyword = TOOL_FACTORIES[name]
            registered += [kw.value for kw in call.keywords if kw.arg == keyword]
            if name in {"from_defaults", "from_function"} and call.args:
                registered.append(call.args[0])
        if name == "Agent":
            for kw in call.keywords:
                if kw.arg in TOOL_LISTS and isinstance(kw.value, (ast.List, ast.Tuple)):
                    registered += kw.value.elts
        if index.qualname(func) in TOOL_DECORATORS and call.args:  # function_tool(fn), tool(fn) as calls
            registered.append(call.args[0])
        for item in registered:
            if isinstance(item, ast.Name):
                found.update(s.id for s in index.functions.get(item.id, []) if s.cls is None)
            elif isinstance(item, ast.Attribute) and isinstance(item.value, ast.Name) and item.value.id == "self":
                found.update(s.id for s in index.functions.get(item.attr, []) if s.cls is not None)
    index._model_tools = found  # type: ignore[attr-defined]
    return found


def framework_output(index: ModuleIndex, node: ast.expr) -> bool:
    """An expression that is a model's output by a framework's documented API."""
    if isinstance(node, ast.Attribute) and node.attr == "content":
        inner = node.value.value if isinstance(node.value, ast.Await) else node.value
        return isinstance(inner, ast.Call) and isinstance(inner.func, ast.Attribute) and inner.func.attr in CHAT_METHODS
    if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)):
        return False
    receiver, method = node.func.value, node.func.attr
    scope = index.enclosing_scope(node)
    if method in CHAT_METHODS | {"stream", "astream", "batch", "abatch"} and _typed_model(index, receiver, scope):
        return True
    if method in ENGINE_METHODS:
        values = [receiver] if isinstance(receiver, ast.Call) else [
            b.value for b in index.lookup(receiver, scope)] if isinstance(receiver, (ast.Name, ast.Attribute)) else []
        return any(_engine(index, v) for v in values)
    return False


def _engine(index: ModuleIndex, value: ast.expr) -> bool:
    if not isinstance(value, ast.Call):
        return False
    if isinstance(value.func, ast.Attribute) and value.func.attr in ENGINE_FACTORIES:
        return True
    q = index.qualname(value.func) or ""
    return q.startswith("llama_index") and q.endswith(("QueryEngine", "ChatEngine"))


def _typed_model(index: ModuleIndex, receiver: ast.expr, scope: Scope) -> bool:
    """A parameter annotated with a LangChain or llama-index model type."""
    if not isinstance(receiver, ast.Name):
        return False
    for probe in index.scope_chain(scope):
        if probe.node is None:
            return False
        if receiver.id in probe.params:
            args = probe.node.args
            for arg in [*args.posonlyargs, *args.args, *args.kwonlyargs]:
                if arg.arg == receiver.id and arg.annotation is not None:
                    return any((index.qualname(n) or "").startswith(("langchain", "llama_index"))
                               and (n.id if isinstance(n, ast.Name) else n.attr) in MODEL_TYPES
                               for n in ast.walk(arg.annotation) if isinstance(n, (ast.Name, ast.Attribute)))
            return False
    return False


def _bases(index: ModuleIndex, cls: str) -> list[str]:
    node = index.class_defs.get(cls)
    if node is None:
        return []
    return [b.id if isinstance(b, ast.Name) else b.attr if isinstance(b, ast.Attribute) else "" for b in node.bases]


def _names(function: ast.AST) -> list[str]:
    args = function.args  # type: ignore[attr-defined]
    names = [a.arg for a in [*args.posonlyargs, *args.args, *args.kwonlyargs]]
    return [n for n in names if n not in {"self", "cls"}]
