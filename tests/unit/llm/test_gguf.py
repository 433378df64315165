"""The GGUF header reader: real headers, the shipped reader's file, and corrupt files that must fail cleanly."""

from __future__ import annotations

import struct
from pathlib import Path

import pytest
from gguf_files import gguf_header, write_gguf

from dayshift.llm.gguf import GGUFError, read_metadata
from dayshift.llm.readers import READERS, installed_readers, part_path


def test_reads_scalars_and_strings_and_counts_arrays(tmp_path: Path) -> None:
    path = tmp_path / "m.gguf"
    path.write_bytes(gguf_header({"general.name": "Tiny", "n": 7, "eps": 1e-6, "flag": True},
                                 arrays={"tokenizer.ggml.tokens": ["x"] * 1000}))
    meta = read_metadata(path)
    assert meta["general.name"] == "Tiny" and meta["n"] == 7 and meta["flag"] is True
    assert meta["eps"] == pytest.approx(1e-6)
    assert meta["tokenizer.ggml.tokens#count"] == 1000 and meta["GGUF.version"] == 3


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"GGML" + b"\0" * 40, "not a GGUF file"),
        (gguf_header({"general.name": "Tiny"})[:30], "truncated"),
        (b"GGUF" + struct.pack("<IQQ", 3, 0, 1) + struct.pack("<Q", 2**40), "string in the header"),
        (b"GGUF" + struct.pack("<IQQ", 3, 0, 10**9), "metadata keys claimed"),
        (b"GGUF" + struct.pack("<IQQ", 1, 0, 0), "too old"),
    ],
)
def test_a_corrupt_file_fails_with_its_path_and_what_is_wrong(tmp_path: Path, content: bytes, message: str) -> None:
    path = tmp_path / "bad.gguf"
    path.write_bytes(content)
    with pytest.raises(GGUFError, match=message) as caught:
        read_metadata(path)
    assert str(path) in str(caught.value)


def test_unknown_value_type_is_an_error(tmp_path: Path) -> None:
    path = tmp_path / "odd.gguf"
    key = struct.pack("<Q", 1) + b"k"
    path.write_bytes(b"GGUF" + struct.pack("<IQQ", 3, 0, 1) + key + struct.pack("<I", 99))
    with pytest.raises(GGUFError, match="unknown GGUF value type 99"):
        read_metadata(path)


def test_the_installed_readers_headers_name_their_models() -> None:
    names = list(installed_readers())
    if not names:
        pytest.skip("no local reader is installed: run `make install`")
    for name in names:
        spec = READERS[name]
        meta = read_metadata(part_path(spec, spec.parts[0]))  # a split reader's header is in its first part
        assert meta["general.architecture"] == spec.architecture
        assert spec.gguf_name in str(meta["general.name"])


def test_synthetic_file_helper_is_readable(tmp_path: Path) -> None:
    meta = read_metadata(write_gguf(tmp_path / "t.gguf", "Tiny Model"))
    assert meta["general.name"] == "Tiny Model" and meta["tokenizer.ggml.tokens#count"] == 3
