"""dayshift's error hierarchy. Every message says what went wrong and how to fix it.

DayshiftError
 ├── ConfigError                 bad or missing setting
 ├── PluginError                 no such backend, or its extra is not installed
 ├── LoadError                   one input file cannot be ingested (the batch goes on)
 │    ├── UnreadableFileError    permissions, I/O, not a file
 │    ├── EncryptedFileError     password-protected PDF
 │    ├── EmptyFileError         no extractable text
 │    ├── MalformedFileError     corrupt or not the format its extension claims
 │    ├── EncodingError          bytes that are not text in any known encoding
 │    ├── FileTooLargeError      over ingest.max_file_mb
 │    └── UnsupportedFileError   no loader for this extension
 ├── EmbeddingError              embedding backend failed
 ├── StoreError                  the index cannot be read or written
 ├── QueryError                  a malformed search request (filter syntax, k)
 └── LLMError                    a language-model call failed
      ├── LLMTimeoutError        connect, read (silence) or total time ran out   [retried]
      ├── LLMConnectionError     refused, reset or dropped connection            [retried]
      ├── LLMRateLimitError      429; carries retry_after_s                      [retried]
      ├── LLMServerError         5xx (not 501/505), 425; may carry retry_after_s [retried]
      ├── LLMProtocolError       malformed body or a stream cut short            [retried]
      ├── LLMRequestError        other 4xx: bad key, bad request, unknown model
      ├── LLMCancelledError      the caller cancelled
      ├── CircuitOpenError       the model failed repeatedly and is resting
      ├── LLMUnavailableError    every model in the fallback chain failed
      ├── StructuredOutputError  no valid JSON after the bounded re-asks
      ├── RedactionError         PII redaction failed, so the call was not sent
      └── BudgetExceededError    a request or tenant budget would be exceeded

Vendor exceptions are converted at the adapter boundary: `raise X(...) from exc`.
"""

from __future__ import annotations


class DayshiftError(Exception):
    """Base class: catch this to handle every dayshift failure."""


class ConfigError(DayshiftError):
    pass


class PluginError(DayshiftError):
    pass


class LoadError(DayshiftError):
    """A file that cannot be ingested. Carries the file, the reason and the fix."""

    kind = "load_error"
    default_fix = "check the file, or exclude it with ingest.exclude"

    def __init__(self, path: str, reason: str, fix: str | None = None) -> None:
        self.path = str(path)
        self.reason = reason
        self.fix = fix or self.default_fix
        super().__init__(f"{self.path}: {reason} (fix: {self.fix})")


class UnreadableFileError(LoadError):
    kind = "unreadable"
    default_fix = "check that the file exists and is readable by this user"


class EncryptedFileError(LoadError):
    kind = "encrypted"
    default_fix = "remove the password (for example `qpdf --decrypt in.pdf out.pdf`) and ingest again"


class EmptyFileError(LoadError):
    kind = "empty"
    default_fix = "the file has no extractable text; if it is a scan, run OCR on it first"


class MalformedFileError(LoadError):
    kind = "malformed"
    default_fix = "the file is corrupt or not the format its extension says; re-export it"


class EncodingError(LoadError):
    kind = "encoding"
    default_fix = "convert the file to UTF-8 (for example `iconv -f LATIN1 -t UTF-8`)"


class FileTooLargeError(LoadError):
    kind = "too_large"
    default_fix = "split the file, or raise DAYSHIFT_INGEST__MAX_FILE_MB"


class UnsupportedFileError(LoadError):
    kind = "unsupported"
    default_fix = "convert it to a supported format, or exclude it with ingest.exclude"


class EmbeddingError(DayshiftError):
    pass


class StoreError(DayshiftError):
    pass


class QueryError(DayshiftError):
    pass


class LLMError(DayshiftError):
    retryable = False


class LLMTimeoutError(LLMError):
    retryable = True


class LLMConnectionError(LLMError):
    retryable = True


class LLMRateLimitError(LLMError):
    retryable = True

    def __init__(self, message: str, *, retry_after_s: float | None = None) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s


class LLMServerError(LLMError):
    retryable = True

    def __init__(self, message: str, *, status: int, retry_after_s: float | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.retry_after_s = retry_after_s  # a 503's Retry-After, when the server sent one


class LLMProtocolError(LLMError):
    retryable = True


class LLMRequestError(LLMError):
    pass


class LLMCancelledError(LLMError):
    pass


class CircuitOpenError(LLMError):
    pass


class LLMUnavailableError(LLMError):
    """Every model in the chain failed; `failures` holds (model, error) per attempt."""

    def __init__(self, message: str, *, failures: list[tuple[str, LLMError]]) -> None:
        super().__init__(message)
        self.failures = failures


class StructuredOutputError(LLMError):
    def __init__(self, message: str, *, last_output: str, validation_error: str) -> None:
        super().__init__(message)
        self.last_output = last_output
        self.validation_error = validation_error


class RedactionError(LLMError):
    pass


class BudgetExceededError(LLMError):
    pass
