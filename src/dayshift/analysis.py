"""Text analysis for the keyword (BM25) index: the same for documents and queries.

    text -> lower-case word tokens -> drop English stop words
         -> a word mixing letters and digits also gives its parts ("il6" -> il6, il, 6)
         -> Snowball stems

dayshift analyses text itself rather than using a store's built-in tokenizer,
so every backend ranks on identical terms (and congruence tests can compare
them). Left out: languages other than English, phrase and proximity queries.
"""

from __future__ import annotations

import re
from functools import lru_cache

# Bump when analyze() changes what it returns: stores keep analysed terms, and
# an index analysed by another version needs its terms analysed again.
VERSION = "2"

_WORD = re.compile(r"[^\W_]+", re.UNICODE)
# Between a letter and a digit, either way round: "il6" | "il 6", "5ht2a" -> 5 ht 2 a.
_LETTER_DIGIT = re.compile(r"(?<=[^\W\d_])(?=\d)|(?<=\d)(?=[^\W\d_])")

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
    terms: list[str] = []
    known = _TERMS.get
    for word in _WORD.findall(text.lower()):
        found = known(word)
        if found is None:
            if len(_TERMS) >= _TERMS_MAX:
                _TERMS.clear()
            found = _TERMS[word] = _word_terms(word)
        terms += found
    return terms


_TERMS: dict[str, tuple[str, ...]] = {}  # word -> its terms: words repeat, and analysis is per word
_TERMS_MAX = 200_000  # ~40 MB at most; cleared when full


def _word_terms(word: str) -> tuple[str, ...]:
    if word in STOP_WORDS:
        return ()
    words = [word]
    if not word.isalpha() and not word.isdigit():
        # Names and codes are written both ways ("IL-6" and "IL6", "COVID-19" and
        # "covid19"); the whole word is kept too, so an exact match still scores higher.
        parts = _LETTER_DIGIT.split(word)
        if len(parts) > 1:
            words.extend(p for p in parts if p not in STOP_WORDS)
    return tuple(_stemmer().stemWords(words))
