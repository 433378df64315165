"""Read a GGUF file's metadata (the key-value header) without loading the model.

    read_metadata(path) -> {"general.architecture": "qwen2", "general.name": "Qwen2.5 Coder 0.5B Instruct", ...}

A GGUF from a package is data from a publisher dayshift cannot vouch for, so
its header is read here, with bounds on every length, before llama.cpp opens
it: dayshift checks the architecture and name it expects. Arrays (the
tokenizer's vocabulary, merges) are skipped, not returned; their length is
kept as "<key>#count".

Left out: tensor descriptors and data, and GGUF versions before 2.
"""

from __future__ import annotations

import struct
from pathlib import Path
from typing import BinaryIO

from dayshift.errors import ConfigError

MAGIC = b"GGUF"
_MAX_KEYS = 100_000
_MAX_STRING = 16 * 1024 * 1024
_MAX_ARRAY = 50_000_000
# value type -> struct format of a scalar (GGUF spec: little-endian)
_SCALARS = {0: "<B", 1: "<b", 2: "<H", 3: "<h", 4: "<I", 5: "<i", 6: "<f", 7: "<?", 10: "<Q", 11: "<q", 12: "<d"}
_STRING, _ARRAY = 8, 9

Value = int | float | bool | str


class GGUFError(ConfigError):
    """The file is not a readable GGUF model."""


def read_metadata(path: Path) -> dict[str, Value]:
    try:
        with path.open("rb") as handle:
            return _read(handle, path)
    except OSError as exc:
        raise GGUFError(f"{path}: cannot read the model file ({exc}); check the path and its permissions") from exc
    except struct.error as exc:
        raise GGUFError(f"{path}: the GGUF header is truncated; the file is incomplete, assemble it again") from exc


def _read(handle: BinaryIO, path: Path) -> dict[str, Value]:
    if handle.read(4) != MAGIC:
        raise GGUFError(f"{path}: not a GGUF file (no GGUF magic bytes); use a .gguf model")
    (version,) = struct.unpack("<I", handle.read(4))
    if version < 2:
        raise GGUFError(f"{path}: GGUF version {version} is too old; convert the model again with llama.cpp")
    _tensors, keys = struct.unpack("<QQ", handle.read(16))
    if keys > _MAX_KEYS:
        raise GGUFError(f"{path}: {keys} metadata keys claimed; the header is corrupt")
    found: dict[str, Value] = {"GGUF.version": version}
    for _ in range(keys):
        key = _string(handle, path)
        (kind,) = struct.unpack("<I", handle.read(4))
        if kind == _ARRAY:
            found[f"{key}#count"] = _skip_array(handle, path)
        else:
            found[key] = _value(handle, kind, path)
    return found


def _string(handle: BinaryIO, path: Path) -> str:
    (length,) = struct.unpack("<Q", handle.read(8))
    if length > _MAX_STRING:
        raise GGUFError(f"{path}: a {length}-byte string in the header; the file is corrupt")
    raw = handle.read(length)
    if len(raw) != length:
        raise struct.error("short read")
    return raw.decode("utf-8", errors="replace")


def _value(handle: BinaryIO, kind: int, path: Path) -> Value:
    if kind == _STRING:
        return _string(handle, path)
    fmt = _SCALARS.get(kind)
    if fmt is None:
        raise GGUFError(f"{path}: unknown GGUF value type {kind}; the file is corrupt or newer than this reader")
    (value,) = struct.unpack(fmt, handle.read(struct.calcsize(fmt)))
    return value  # type: ignore[no-any-return]


def _skip_array(handle: BinaryIO, path: Path) -> int:
    kind, count = struct.unpack("<IQ", handle.read(12))
    if count > _MAX_ARRAY:
        raise GGUFError(f"{path}: an array of {count} items in the header; the file is corrupt")
    if kind == _STRING:
        for _ in range(count):
            (length,) = struct.unpack("<Q", handle.read(8))
            if length > _MAX_STRING:
                raise GGUFError(f"{path}: a {length}-byte string in the header; the file is corrupt")
            handle.seek(length, 1)
    elif kind in _SCALARS:
        handle.seek(count * struct.calcsize(_SCALARS[kind]), 1)
    else:
        raise GGUFError(f"{path}: an array of GGUF type {kind} in the header; nested arrays are not supported")
    return int(count)
