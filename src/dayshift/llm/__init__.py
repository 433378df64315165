"""Language models: the backend protocol (base), the bundled llama.cpp reader (local), any
OpenAI-compatible server (openai), and the one client every call goes through (client: retries,
fallback, the circuit breaker, PII redaction, accounting). Nothing is imported here, so
`import dayshift.llm.base` loads no model runtime."""
