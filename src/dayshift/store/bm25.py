"""The BM25 formula every store scores keyword search with, and its constants.

    score(d, q) = sum_t idf(t) * tf(t,d) * (k1 + 1) / (tf(t,d) + k1 * (1 - b + b * len(d) / avglen))
    idf(t)      = ln(1 + (N - df(t) + 0.5) / (df(t) + 0.5))            (Lucene's, never negative)

The embedded store computes it in memory (store.embedded.keyword), the Postgres
store in SQL (store.postgres.sql), the Qdrant store through sparse vectors with
Qdrant's IDF (store.qdrant.bm25); the contract tests hold them equal to 1e-6.
"""

K1 = 1.2
B = 0.75
