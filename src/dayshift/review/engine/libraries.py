"""What each library the review models looks like: its client constructors, its generation
calls, and the frameworks that wrap them. Tables only; engine/clients.py follows the objects.

Other providers' SDKs (groq, together, cerebras, g4f, mistralai, cohere, google-genai,
google-generativeai) and mem0's memory clients are "provider" clients: their calls are model
calls for the data-flow rules (user data sent to them, their output parsed or run), but their
timeout, retry, output-cap and streaming conventions differ from the SDKs above and are not
modelled, so those rules say nothing about them.

Left out: providers' SDKs not listed here (replicate, huggingface_hub, bedrock through boto3,
ollama's own client ...), and libraries that call a model inside themselves (raglite,
instructor's old DSL): their calls are not recognised as model calls.
"""

from __future__ import annotations

import ast

OPENAI_CTORS = {"OpenAI", "AsyncOpenAI", "AzureOpenAI", "AsyncAzureOpenAI", "Client", "AsyncClient"}
ANTHROPIC_CTORS = {"Anthropic", "AsyncAnthropic", "AnthropicBedrock", "AsyncAnthropicBedrock", "AnthropicVertex",
                   "AsyncAnthropicVertex", "Client", "AsyncClient"}
LANGCHAIN_MODELS = {"ChatOpenAI": "openai", "AzureChatOpenAI": "openai", "OpenAI": "openai-llm",
                    "AzureOpenAI": "openai-llm", "ChatAnthropic": "anthropic", "ChatOllama": "ollama",
                    "Ollama": "ollama", "ChatLiteLLM": "litellm", "OpenAIEmbeddings": "openai-embed",
                    "AzureOpenAIEmbeddings": "openai-embed"}
LLAMAINDEX_MODELS = {"OpenAI": "openai", "AzureOpenAI": "openai", "OpenAILike": "openai", "Anthropic": "anthropic",
                     "Ollama": "ollama", "LlamaCPP": "local", "LiteLLM": "litellm"}
WRAPPERS = {"instructor.from_openai", "instructor.patch", "instructor.apatch", "instructor.from_anthropic",
            "langsmith.wrappers.wrap_openai", "langsmith.wrappers.wrap_anthropic", "langfuse.openai.OpenAI"}
HTTP_METHODS = {"get", "post", "put", "patch", "delete", "head", "options", "request", "stream", "send"}
OPENAI_RESOURCES = {"chat", "completions", "embeddings", "images", "audio", "files", "models", "moderations",
                    "responses", "beta", "batches", "fine_tuning", "uploads", "vector_stores", "realtime"}
LITELLM_GENERATION = {"completion", "acompletion", "text_completion", "atext_completion", "responses",
                      "aresponses"}
LITELLM_NETWORK = LITELLM_GENERATION | {"embedding", "aembedding", "image_generation", "aimage_generation",
                                        "transcription", "atranscription", "speech", "aspeech", "moderation"}
INVOKE_METHODS = {"invoke", "ainvoke", "stream", "astream", "batch", "abatch", "predict", "apredict",
                  "predict_messages", "apredict_messages", "generate", "agenerate", "run", "arun", "acall",
                  "complete", "acomplete", "chat", "achat", "stream_complete", "astream_complete", "stream_chat",
                  "astream_chat", "query", "aquery", "astream_events", "astream_log", "__call__"}
# Functions that run the function they are given: where that function sits among their arguments.
# `await asyncio.to_thread(client.chat.completions.create, model=m, messages=msgs)` is that call.
RUNS_GIVEN = {"asyncio.to_thread": 0, "anyio.to_thread.run_sync": 0, "starlette.concurrency.run_in_threadpool": 0,
              "fastapi.concurrency.run_in_threadpool": 0, "functools.partial": 0}
# Functions that return the function they are given, made async (called later with its arguments).
WRAPS_GIVEN = {"asgiref.sync.sync_to_async", "asgiref.sync.async_to_sync", "functools.partial",
               "starlette.concurrency.run_in_threadpool"}
DERIVING_METHODS = {"with_options", "with_retry", "bind", "bind_tools", "with_structured_output", "with_config",
                    "with_fallbacks", "with_raw_response", "with_streaming_response", "copy"}
# Other providers' SDKs: constructor qualname -> vendor.
PROVIDER_CTORS = {"groq.Groq": "groq", "groq.AsyncGroq": "groq",
                  "together.Together": "together", "together.AsyncTogether": "together",
                  "cerebras.cloud.sdk.Cerebras": "cerebras",
                  "cerebras.cloud.sdk.AsyncCerebras": "cerebras",
                  "g4f.client.Client": "g4f", "g4f.client.AsyncClient": "g4f",
                  "g4f.Client": "g4f", "g4f.AsyncClient": "g4f",
                  "mistralai.Mistral": "mistral", "mistralai.client.MistralClient": "mistral",
                  "mistralai.async_client.MistralAsyncClient": "mistral",
                  "cohere.Client": "cohere", "cohere.ClientV2": "cohere",
                  "cohere.AsyncClient": "cohere", "cohere.AsyncClientV2": "cohere",
                  "google.genai.Client": "google-genai",
                  "google.generativeai.GenerativeModel": "google-generativeai",
                  "mem0.Memory": "mem0", "mem0.AsyncMemory": "mem0",
                  "mem0.Memory.from_config": "mem0", "mem0.AsyncMemory.from_config": "mem0",
                  "mem0.MemoryClient": "mem0", "mem0.AsyncMemoryClient": "mem0"}
# vendor -> {method path: whether it generates text}; a path not listed is not a network call we know.
# Vendors not listed (groq, together, cerebras, g4f) copy the openai SDK's shape.
PROVIDER_CALLS = {
    "mistral": {("chat", "complete"): True, ("chat", "complete_async"): True, ("chat", "stream"): True,
                ("chat", "stream_async"): True, ("fim", "complete"): True, ("fim", "complete_async"): True,
                ("agents", "complete"): True, ("agents", "complete_async"): True, ("chat",): True,
                ("chat_stream",): True, ("embeddings", "create"): False, ("embeddings", "create_async"): False,
                ("embeddings",): False},
    "cohere": {("chat",): True, ("chat_stream",): True, ("generate",): True, ("embed",): False,
               ("rerank",): False, ("classify",): False, ("summarize",): True},
    "google-genai": {("models", "generate_content"): True, ("models", "generate_content_stream"): True,
                     ("aio", "models", "generate_content"): True, ("aio", "models", "generate_content_stream"): True,
                     ("models", "embed_content"): False, ("aio", "models", "embed_content"): False},
    "google-generativeai": {("generate_content",): True, ("generate_content_async",): True,
                            ("count_tokens",): False},
    # mem0 sends what it is given to its LLM (fact extraction) and embedder (search): not text back
    "mem0": {("add",): False, ("search",): False, ("update",): False},
}
# What a provider call sends to the model, where not every argument: mem0 sends the messages to its
# LLM and embedder, while user_id, agent_id and metadata only filter its vector store.
PROVIDER_SENT = {"mem0": {("add",): ("messages", 0), ("search",): ("query", 0), ("update",): ("data", 1)}}
PROVIDER_LOCAL_WORDS = ("ollama", "lmstudio", "lm_studio", "vllm", "huggingface")  # in a mem0 config: local


def provider_call(vendor: str, path: tuple[str, ...]) -> bool | None:
    """Whether a provider client's method path generates text (True), sends data (False), or is unknown (None)."""
    if vendor not in PROVIDER_CALLS:  # the openai SDK's shape
        if len(path) >= 2 and path[0] in OPENAI_RESOURCES:
            return openai_generation(path)
        return None
    return PROVIDER_CALLS[vendor].get(path)


def provider_sent(vendor: str, path: tuple[str, ...], call: ast.Call) -> list[ast.expr] | None:
    """The arguments of a provider call that reach the model; None: all of them."""
    where = PROVIDER_SENT.get(vendor, {}).get(path)
    if where is None:
        return None
    name, position = where
    given = [k.value for k in call.keywords if k.arg == name]
    return given or ([call.args[position]] if len(call.args) > position else [])


MODELLED_LIBRARIES = {"openai", "anthropic", "litellm", "requests", "httpx", "aiohttp", "langchain", "langchain_core",
                      "langchain_openai", "langchain_anthropic", "langchain_community", "langchain_ollama",
                      "llama_index", "instructor", "langsmith", "langfuse", "streamlit", "chainlit", "fastapi",
                      "flask", "quart", "starlette", "django", "pydantic", "tenacity", "backoff", "discord",
                      "groq", "together", "cerebras", "g4f", "mistralai", "cohere", "google", "mem0"}
LOCAL_HOSTS = ("localhost", "127.0.0.1", "0.0.0.0", "[::1]", "host.docker.internal")


def openai_generation(path: tuple[str, ...]) -> bool:
    tail = path[-3:]
    return tail in {("chat", "completions", "create"), ("chat", "completions", "parse"),
                    ("chat", "completions", "stream")} or path[-2:] in {
        ("completions", "create"), ("responses", "create"), ("responses", "parse"), ("responses", "stream")}


def anthropic_generation(path: tuple[str, ...]) -> bool:
    return path[-2:] in {("messages", "create"), ("messages", "stream"), ("completions", "create")}


# ---- typed parameters and the OpenAI Agents SDK ------------------------------------------------
# A parameter annotated with an SDK client type is a client of that kind whose construction is not
# seen (it is injected): `def embed(q: str, client: AsyncOpenAI)`.
TYPED_CLIENTS = {"openai": ("openai", "openai", OPENAI_CTORS), "anthropic": ("anthropic", "anthropic", ANTHROPIC_CTORS)}
TYPED_MODELS = set(LANGCHAIN_MODELS) | {"BaseChatModel", "BaseLanguageModel", "BaseLLM"}
RUNNABLE_TYPES = {"Runnable", "RunnableSerializable", "CompiledGraph", "CompiledStateGraph", "Pregel"}
AGENT_RUNS = {"run", "run_sync", "run_streamed"}  # agents.Runner.<run>(agent, input)
AGENT_MODELS = {"OpenAIResponsesModel", "OpenAIChatCompletionsModel"}  # their openai_client= is the client


def annotated_kind(qualnames: list[str]) -> tuple[str, str] | None:
    """(kind, vendor) for an annotation naming an SDK client or a LangChain model type."""
    for q in qualnames:
        if q in PROVIDER_CTORS:
            return "provider", PROVIDER_CTORS[q]
        top, name = q.split(".", 1)[0], q.rsplit(".", 1)[-1]
        if top in TYPED_CLIENTS and name in TYPED_CLIENTS[top][2]:
            return TYPED_CLIENTS[top][0], TYPED_CLIENTS[top][1]
        if top.startswith("langchain") and name in TYPED_MODELS:
            return "langchain", LANGCHAIN_MODELS.get(name, "openai")
    return None


def agents_run(qualname: str) -> str | None:
    """The method name when `qualname` is the OpenAI Agents SDK's Runner.run / run_sync / run_streamed."""
    parts = qualname.split(".")
    if parts[0] == "agents" and len(parts) >= 3 and parts[-2] == "Runner" and parts[-1] in AGENT_RUNS:
        return parts[-1]
    return None
