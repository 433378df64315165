"""What each library the review models looks like: its client constructors, its generation
calls, and the frameworks that wrap them. Tables only; engine/clients.py follows the objects.

Left out: providers' own SDKs beyond openai, anthropic, litellm and the OpenAI Agents SDK
(groq, mistralai, cohere, google-genai ...): their calls are not recognised as model calls.
"""

from __future__ import annotations

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
                  "astream_chat", "query", "aquery", "__call__"}
DERIVING_METHODS = {"with_options", "with_retry", "bind", "bind_tools", "with_structured_output", "with_config",
                    "with_fallbacks", "with_raw_response", "with_streaming_response", "copy"}
MODELLED_LIBRARIES = {"openai", "anthropic", "litellm", "requests", "httpx", "aiohttp", "langchain", "langchain_core",
                      "langchain_openai", "langchain_anthropic", "langchain_community", "langchain_ollama",
                      "llama_index", "instructor", "langsmith", "langfuse", "streamlit", "chainlit", "fastapi",
                      "flask", "quart", "starlette", "django", "pydantic", "tenacity", "backoff", "discord"}
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
AGENT_RUNS = {"run", "run_sync", "run_streamed"}  # agents.Runner.<run>(agent, input)
AGENT_MODELS = {"OpenAIResponsesModel", "OpenAIChatCompletionsModel"}  # their openai_client= is the client


def annotated_kind(qualnames: list[str]) -> tuple[str, str] | None:
    """(kind, vendor) for an annotation naming an SDK client or a LangChain model type."""
    for q in qualnames:
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
