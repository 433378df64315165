"""dayshift inside other frameworks: retrievers for LangChain and LlamaIndex over one search client.

    dayshift.integrations.search       SearchClient: embedded (this process opens the index) or HTTP
    dayshift.integrations.langchain    DayshiftRetriever, a langchain-core BaseRetriever   ("dayshift[langchain]")
    dayshift.integrations.llama_index  DayshiftRetriever, a llama-index-core BaseRetriever ("dayshift[llama-index]")

The OpenAI-compatible endpoint (POST /v1/chat/completions) needs no adapter: point any OpenAI client at it.
"""
