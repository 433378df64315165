"""Writes small, real GGUF headers for the reader tests (no tensors: dayshift reads only the header)."""

from __future__ import annotations

import struct
from pathlib import Path


def _string(text: str) -> bytes:
    raw = text.encode()
    return struct.pack("<Q", len(raw)) + raw


def gguf_header(metadata: dict[str, object], *, arrays: dict[str, list[str]] | None = None) -> bytes:
    """GGUF v3 bytes: the magic, counts, then `metadata` (str/int/float/bool) and string `arrays`."""
    arrays = arrays or {}
    body = b""
    for key, value in metadata.items():
        body += _string(key)
        if isinstance(value, bool):
            body += struct.pack("<I?", 7, value)
        elif isinstance(value, int):
            body += struct.pack("<Iq", 11, value)
        elif isinstance(value, float):
            body += struct.pack("<Id", 12, value)
        else:
            body += struct.pack("<I", 8) + _string(str(value))
    for key, items in arrays.items():
        body += _string(key) + struct.pack("<IIQ", 9, 8, len(items)) + b"".join(_string(i) for i in items)
    return b"GGUF" + struct.pack("<IQQ", 3, 0, len(metadata) + len(arrays)) + body


def write_gguf(path: Path, name: str, *, architecture: str = "qwen2", padding: int = 0) -> Path:
    path.write_bytes(gguf_header({"general.architecture": architecture, "general.name": name},
                                 arrays={"tokenizer.ggml.tokens": ["a", "b", "<|im_end|>"]}) + b"\0" * padding)
    return path
