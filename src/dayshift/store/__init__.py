"""Where chunks, their vectors and their keyword terms live: the Store protocol and its backends.

    base.py             the Store protocol (write, search, flush, stats, export)
    hybrid.py           the optional one-call hybrid search a backend may offer
    bm25.py             the BM25 formula and constants every backend scores with
    filter_semantics.py what a filter Condition means, in Python
    migrate.py          copy one store into another (`dayshift store migrate`)
    embedded/           SQLite plus in-memory indexes, no server (the default)
    postgres/           Postgres with pgvector
    qdrant/             Qdrant, through qdrant-client

Backends are registered under "dayshift.stores" (pyproject.toml) and opened by name.
"""
