"""Readers shipped in parts: joined in order, checked by sha256 and GGUF header, once, under a lock.

The packages here are real ones, written to a temporary folder on sys.path, so
`find_spec` finds them exactly as it finds the installed readers.
"""

from __future__ import annotations

import hashlib
import json
import multiprocessing
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from gguf_files import write_gguf

from dayshift.errors import ConfigError, PluginError
from dayshift.llm.readers import (
    DEFAULT_READER,
    READERS,
    Part,
    ReaderSpec,
    assemble,
    local_model_name,
    resolve_reader,
)


@pytest.fixture()
def site(tmp_path: Path) -> Iterator[Path]:
    folder = tmp_path / "site"
    folder.mkdir()
    sys.path.insert(0, str(folder))
    yield folder
    sys.path.remove(str(folder))
    for name in [m for m in sys.modules if m.startswith("tiny_part")]:
        del sys.modules[name]


def _split_reader(site: Path, tmp_path: Path, *, parts: int = 3, name: str = "Tiny Reader 1B") -> ReaderSpec:
    whole = write_gguf(tmp_path / "whole.gguf", name, padding=10_000).read_bytes()
    size = -(-len(whole) // parts)
    for i in range(parts):
        package = site / f"tiny_part{i + 1}"
        (package / "data").mkdir(parents=True)
        (package / "__init__.py").write_text("raise RuntimeError('a part package is never imported')\n")
        (package / "data" / "part.bin").write_bytes(whole[i * size : (i + 1) * size])
    return ReaderSpec(
        name="tiny-1b", title="Tiny", parts=tuple(Part(f"tiny_part{i + 1}", "data/part.bin") for i in range(parts)),
        size_bytes=len(whole), sha256=hashlib.sha256(whole).hexdigest(), architecture="qwen2",
        gguf_name="Tiny Reader", chat_template="chatml", license="Apache-2.0", install="pip install tiny",
    )


def test_parts_are_joined_in_order_checked_and_remembered(site: Path, tmp_path: Path) -> None:
    spec = _split_reader(site, tmp_path)
    models = tmp_path / "models"
    path = assemble(spec, models_dir=models)
    assert path == models / "tiny-1b.gguf"
    assert path.read_bytes() == (tmp_path / "whole.gguf").read_bytes()
    marker = json.loads((models / "tiny-1b.verified.json").read_text())
    assert marker["sha256"] == spec.sha256 and marker["size"] == spec.size_bytes
    assert not list(models.glob(".*.tmp"))  # nothing half-written is left behind
    stamp = path.stat().st_mtime_ns
    assert assemble(spec, models_dir=models) == path and path.stat().st_mtime_ns == stamp  # not joined again


def test_a_changed_part_is_refused_and_nothing_is_left(site: Path, tmp_path: Path) -> None:
    spec = _split_reader(site, tmp_path)
    part = site / "tiny_part2" / "data" / "part.bin"
    part.write_bytes(b"x" + part.read_bytes()[1:])
    with pytest.raises(ConfigError, match="sha256") as caught:
        assemble(spec, models_dir=tmp_path / "models")
    assert "pip install tiny" in str(caught.value)
    assert not list((tmp_path / "models").glob("*.gguf")) and not list((tmp_path / "models").glob(".*.tmp"))


def test_a_file_whose_header_names_another_model_is_refused(site: Path, tmp_path: Path) -> None:
    spec = _split_reader(site, tmp_path, name="Someone Else 7B")
    with pytest.raises(ConfigError, match="expected 'Tiny Reader'"):
        assemble(spec, models_dir=tmp_path / "models")


def test_a_missing_part_names_what_to_install(site: Path, tmp_path: Path) -> None:
    spec = _split_reader(site, tmp_path)
    missing = ReaderSpec(**{**{f: getattr(spec, f) for f in spec.__slots__}, "parts": (*spec.parts, Part("tiny_gone", "x"))})
    with pytest.raises(PluginError, match="missing tiny_gone.*pip install tiny"):
        assemble(missing, models_dir=tmp_path / "models")


def test_an_edited_assembled_file_is_checked_again(site: Path, tmp_path: Path) -> None:
    spec = _split_reader(site, tmp_path)
    models = tmp_path / "models"
    path = assemble(spec, models_dir=models)
    path.write_bytes(path.read_bytes()[:-1] + b"!")  # same size, new mtime: the marker no longer matches
    assert assemble(spec, models_dir=models).read_bytes() == (tmp_path / "whole.gguf").read_bytes()


def _assemble_in_child(site: str, tmp: str, spec_json: str) -> str:
    sys.path.insert(0, site)
    raw = json.loads(spec_json)
    spec = ReaderSpec(**{**raw, "parts": tuple(Part(**p) for p in raw["parts"])})
    return str(assemble(spec, models_dir=Path(tmp) / "models"))


def test_two_processes_assembling_at_once_both_get_one_good_file(site: Path, tmp_path: Path) -> None:
    spec = _split_reader(site, tmp_path, parts=4)
    raw = {f: getattr(spec, f) for f in spec.__slots__}
    raw["parts"] = [{"package": p.package, "path": p.path} for p in spec.parts]
    args = (str(site), str(tmp_path), json.dumps(raw))
    with multiprocessing.get_context("spawn").Pool(2) as pool:
        paths = pool.starmap(_assemble_in_child, [args, args])
    assert paths[0] == paths[1]
    assert Path(paths[0]).read_bytes() == (tmp_path / "whole.gguf").read_bytes()
    assert not list((tmp_path / "models").glob(".*.tmp"))


def test_a_gguf_path_is_used_as_it_is(tmp_path: Path) -> None:
    path = write_gguf(tmp_path / "mine.gguf", "My Own Model")
    assert resolve_reader(str(path), models_dir=tmp_path) == (path, None)
    with pytest.raises(ConfigError, match="no GGUF model at"):
        resolve_reader(str(tmp_path / "gone.gguf"), models_dir=tmp_path)


def test_unknown_reader_names_the_known_ones(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="qwen2.5-coder-0.5b-instruct"):
        resolve_reader("gpt-5", models_dir=tmp_path)


def test_model_names_for_traces_and_prices() -> None:
    assert local_model_name(None) == DEFAULT_READER
    assert local_model_name("qwen2.5-coder-1.5b-instruct") == "qwen2.5-coder-1.5b-instruct"
    assert local_model_name("/m/My.Model-Q4.gguf") == "My.Model-Q4"


def test_every_shipped_reader_is_apache_2_and_uses_dayshifts_template() -> None:
    assert DEFAULT_READER in READERS
    for spec in READERS.values():
        assert spec.license == "Apache-2.0" and spec.chat_template == "chatml"
        assert len(spec.sha256) == 64 and spec.size_bytes > 0
