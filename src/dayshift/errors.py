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
 └── QueryError                  a malformed search request (filter syntax, k)

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
