"""Text analysis for the keyword (BM25) index: the same for documents and queries.

    text -> lower-case word tokens -> drop English stop words -> Snowball stems

dayshift analyses text itself rather than using a store's built-in tokenizer,
so every backend ranks on identical terms (and congruence tests can compare
them). Left out: languages other than English, phrase and proximity queries.
"""

from __future__ import annotations

import re
from functools import lru_cache

_WORD = re.compile(r"[^\W_]+", re.UNICODE)

# Lucene's English stop set plus common function words; short on purpose:
# over-aggressive stop lists hurt scientific queries ("no", "not" are kept).
STOP_WORDS = frozenset(
    """a an and are as at be been but by for from had has have he her his i if in into is it its
    of on or our she such that the their them then there these they this those to was we were
    what when where which while who whom will with would you your""".split()
)


@lru_cache(maxsize=1)
def _stemmer():  # type: ignore[no-untyped-def]
    import Stemmer

    return Stemmer.Stemmer("english")


def analyze(text: str) -> list[str]:
    """Index terms of `text`, in order, duplicates kept (term frequency matters)."""
    words = [w for w in _WORD.findall(text.lower()) if w not in STOP_WORDS]
    return _stemmer().stemWords(words)
