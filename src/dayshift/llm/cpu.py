"""Which llama.cpp CPU kernels run here: chosen at run time, never AMX.

dayshift builds llama.cpp once for every x86-64 CPU, the way llama.cpp's own
release builds are made (Makefile: GGML_NATIVE=OFF, GGML_BACKEND_DL=ON,
GGML_CPU_ALL_VARIANTS=ON): the core libraries hold baseline x86-64 code only,
and the matrix kernels come as one shared library per CPU generation,
`libggml-cpu-<variant>.so`. Before the first model loads, dayshift picks the
variant this CPU runs best -- the same score ggml computes, from the flags the
kernel reports in /proc/cpuinfo (so features the OS has switched off are not
used) -- and registers it with ggml.

    haswell      AVX2 FMA F16C BMI2              (x86-64-v3)
    skylakex     + AVX-512 F/CD/VL/DQ/BW
    icelake      + AVX-512 VBMI, VNNI
    zen4         + AVX-512 BF16
    sapphirerapids  + AMX-INT8   <- never chosen: llama.cpp's AMX kernels crash in
                                    llama_decode on prompts longer than one token

`DAYSHIFT_LLM__CPU_VARIANT` forces one (for a test, or to rule one out).
A build that is not of this kind (one `libggml-cpu.so`, which a plain
`pip install llama-cpp-python` compiles for the building machine's own CPU) is
used as it is, and `dayshift doctor` says so.

Left out: CPUs other than x86-64 (ggml picks their variant itself), and GPU backends.
"""

from __future__ import annotations

import ctypes
import platform
import threading
from dataclasses import dataclass
from functools import cache
from importlib.util import find_spec
from pathlib import Path

from dayshift.errors import ConfigError, PluginError

_AVX512 = ("avx512f", "avx512cd", "avx512vl", "avx512dq", "avx512bw")
_HASWELL = ("sse4_2", "avx", "f16c", "fma", "avx2", "bmi2")
# variant -> /proc/cpuinfo flags it needs (ggml/src/CMakeLists.txt, GGML_CPU_ALL_VARIANTS on x86)
VARIANT_FLAGS: dict[str, tuple[str, ...]] = {
    "x64": (),
    "sse42": ("sse4_2",),
    "sandybridge": ("sse4_2", "avx"),
    "ivybridge": ("sse4_2", "avx", "f16c"),
    "piledriver": ("sse4_2", "avx", "f16c", "fma"),
    "haswell": _HASWELL,
    "skylakex": (*_HASWELL, *_AVX512),
    "cannonlake": (*_HASWELL, *_AVX512, "avx512vbmi"),
    "cascadelake": (*_HASWELL, *_AVX512, "avx512_vnni"),
    "icelake": (*_HASWELL, *_AVX512, "avx512vbmi", "avx512_vnni"),
    "cooperlake": (*_HASWELL, *_AVX512, "avx512_vnni", "avx512_bf16"),
    "zen4": (*_HASWELL, *_AVX512, "avx512vbmi", "avx512_vnni", "avx512_bf16"),
    "alderlake": (*_HASWELL, "avx_vnni"),
    "sapphirerapids": (*_HASWELL, *_AVX512, "avx512vbmi", "avx512_vnni", "avx512_bf16", "amx_tile", "amx_int8"),
}
# ggml's score bit per feature (ggml-cpu/arch/x86/cpu-feats.cpp): the highest runnable score wins.
_SCORE_BITS = {"fma": 0, "f16c": 1, "sse4_2": 2, "bmi2": 3, "avx": 4, "avx2": 5, "avx_vnni": 6, "avx512f": 7,
               "avx512vbmi": 8, "avx512_bf16": 9, "avx512_vnni": 10, "amx_int8": 11}
NEVER_AUTO = frozenset({"sapphirerapids"})  # AMX: see the module docstring
_PREFIX, _SUFFIX = "libggml-cpu-", ".so"


@dataclass(frozen=True, slots=True)
class LlamaBuild:
    lib_dir: Path
    variants: tuple[str, ...]  # libggml-cpu-<variant>.so files present
    single_cpu_library: bool  # a libggml-cpu.so: built for one CPU (often the builder's own)


@dataclass(frozen=True, slots=True)
class CpuBackend:
    variant: str  # "zen4", ... or "built-in" for a single-CPU build
    path: Path | None
    flags: tuple[str, ...]  # the features of that variant, as /proc/cpuinfo names them


@cache
def cpu_flags() -> frozenset[str]:
    """Feature flags the kernel reports for this CPU (empty where /proc/cpuinfo is absent)."""
    try:
        text = Path("/proc/cpuinfo").read_text(encoding="ascii", errors="replace")
    except OSError:
        return frozenset()
    for line in text.splitlines():
        if line.startswith("flags"):
            return frozenset(line.partition(":")[2].split())
    return frozenset()


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text(encoding="ascii", errors="replace").splitlines():
            if line.startswith("model name"):
                return line.partition(":")[2].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def variant_score(variant: str, flags: frozenset[str]) -> int:
    """ggml's score for running `variant` on a CPU with `flags`; 0: it cannot run there."""
    needed = VARIANT_FLAGS[variant]
    if any(flag not in flags for flag in needed):
        return 0
    return 1 + sum(1 << bit for flag, bit in _SCORE_BITS.items() if flag in needed)


def choose_variant(available: tuple[str, ...], flags: frozenset[str], *, forced: str | None = None) -> str:
    if forced is not None:
        if forced not in available:
            raise ConfigError(
                f"llama.cpp CPU variant {forced!r} is not installed (have: {', '.join(available)}): "
                "fix DAYSHIFT_LLM__CPU_VARIANT, or unset it to choose automatically"
            )
        if forced in VARIANT_FLAGS and variant_score(forced, flags) == 0:
            missing = [f for f in VARIANT_FLAGS[forced] if f not in flags]
            raise ConfigError(
                f"llama.cpp CPU variant {forced!r} needs {', '.join(missing)}, which this CPU lacks: "
                "unset DAYSHIFT_LLM__CPU_VARIANT to choose automatically"
            )
        return forced
    scored = [(variant_score(v, flags), v) for v in available if v in VARIANT_FLAGS and v not in NEVER_AUTO]
    runnable = [item for item in scored if item[0] > 0]
    if not runnable:
        raise PluginError(
            f"no llama.cpp CPU variant among {', '.join(available)} runs on this CPU; reinstall llama-cpp-python "
            "with `make install` (it builds every variant)"
        )
    return max(runnable)[1]


def llama_build() -> LlamaBuild:
    spec = find_spec("llama_cpp")
    if spec is None or not spec.submodule_search_locations:
        raise PluginError('llama-cpp-python is not installed: run `make install` (it builds llama.cpp portably)')
    lib_dir = Path(next(iter(spec.submodule_search_locations))) / "lib"
    names = [p.name for p in lib_dir.glob(f"{_PREFIX}*{_SUFFIX}*")]
    variants = sorted({n[len(_PREFIX):].split(_SUFFIX)[0] for n in names})
    single = any(p.name.startswith("libggml-cpu.so") for p in lib_dir.glob("libggml-cpu.so*"))
    return LlamaBuild(lib_dir=lib_dir, variants=tuple(variants), single_cpu_library=single)


_loaded: CpuBackend | None = None
_lock = threading.Lock()


def load_cpu_backend(*, forced: str | None = None) -> CpuBackend:
    """Register the chosen CPU variant with ggml, once per process, before any model loads."""
    global _loaded
    with _lock:
        if _loaded is not None:
            if forced is not None and forced != _loaded.variant:
                raise ConfigError(
                    f"llama.cpp already runs the {_loaded.variant!r} CPU variant in this process; "
                    f"{forced!r} needs a new process"
                )
            return _loaded
        build = llama_build()
        if not build.variants:  # a single-CPU build: ggml loads its one backend itself
            _loaded = CpuBackend("built-in", None, ())
            return _loaded
        variant = choose_variant(build.variants, cpu_flags(), forced=forced)
        path = variant_path(build, variant)
        _register(build, path)
        _loaded = CpuBackend(variant, path, VARIANT_FLAGS.get(variant, ()))
        return _loaded


def _register(build: LlamaBuild, path: Path) -> None:
    """ggml_backend_load(path) in the very libggml that libllama uses (its soname file: a wheel
    stores libggml.so and libggml.so.0 as two copies, and each copy keeps its own registry)."""
    import llama_cpp  # noqa: F401  -- loads libllama, and with it lib/libggml.so.0
    from llama_cpp._utils import suppress_stdout_stderr

    ggml = ctypes.CDLL(str(build.lib_dir / "libggml.so.0"))
    ggml.ggml_backend_load.argtypes, ggml.ggml_backend_load.restype = [ctypes.c_char_p], ctypes.c_void_p
    ggml.ggml_backend_reg_count.restype = ctypes.c_size_t
    with suppress_stdout_stderr(disable=False):  # ggml announces the load on stderr
        loaded = ggml.ggml_backend_load(str(path).encode())
    if not loaded or not ggml.ggml_backend_reg_count():
        raise PluginError(f"ggml could not load {path}; reinstall llama-cpp-python with `make install`")


def variant_path(build: LlamaBuild, variant: str) -> Path:
    matches = sorted(build.lib_dir.glob(f"{_PREFIX}{variant}{_SUFFIX}*"), key=lambda p: len(p.name))
    if not matches:
        raise PluginError(f"{_PREFIX}{variant}{_SUFFIX} is missing from {build.lib_dir}; reinstall with `make install`")
    return matches[0]


def backend_environment(*, forced: str | None = None) -> dict[str, str]:
    """Environment for a separate llama.cpp process of this build (e.g. `python -m llama_cpp.server`)."""
    build = llama_build()
    if not build.variants:
        return {}
    return {"GGML_BACKEND_PATH": str(variant_path(build, choose_variant(build.variants, cpu_flags(), forced=forced)))}


def system_info() -> str:
    """llama.cpp's own list of the features its loaded CPU backend uses ("AVX2 = 1 | ...")."""
    import llama_cpp

    return bytes(llama_cpp.llama_print_system_info()).decode("utf-8", errors="replace").strip()
