"""dayshift: retrieval-augmented LLM applications that run reliably at 2 AM."""

__version__ = "0.1.0"
