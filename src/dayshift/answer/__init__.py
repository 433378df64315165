"""Answers with citations or "I don't know": prompt rendering, excerpts, the reader's call,
citations, support checks and abstention. Nothing is imported here, so importing one module
loads only what it needs."""
