"""llama.cpp's CPU kernels: one portable build, a variant chosen per CPU, never AMX.

The choice is tested on the flags of real CPUs (as their /proc/cpuinfo lists
them); the installed build is inspected instruction by instruction, so a build
made for one machine's CPU (AVX or AVX-512 code in the core libraries) or one
that would load AMX kernels fails here.
"""

from __future__ import annotations

import shutil
import subprocess

import pytest

from dayshift.errors import ConfigError, PluginError
from dayshift.llm.cpu import (
    NEVER_AUTO,
    VARIANT_FLAGS,
    choose_variant,
    cpu_flags,
    llama_build,
    variant_path,
    variant_score,
)

ALL = tuple(VARIANT_FLAGS)
BASE = ("sse4_2", "avx", "f16c", "fma", "avx2", "bmi2")
AVX512 = ("avx512f", "avx512cd", "avx512vl", "avx512dq", "avx512bw")
CPUS = {  # a CPU's flags (the ones that matter) -> the variant it must get
    "Xeon Sapphire Rapids (AMX)": ((*BASE, *AVX512, "avx512vbmi", "avx512_vnni", "avx512_bf16", "amx_tile",
                                    "amx_int8", "amx_bf16"), "zen4"),
    "EPYC Genoa (Zen 4)": ((*BASE, *AVX512, "avx512vbmi", "avx512_vnni", "avx512_bf16"), "zen4"),
    "Xeon Cascade Lake": ((*BASE, *AVX512, "avx512_vnni"), "cascadelake"),
    "Xeon Skylake-SP": ((*BASE, *AVX512), "skylakex"),
    "Core Alder Lake": ((*BASE, "avx_vnni"), "alderlake"),
    "Core Haswell": (BASE, "haswell"),
    "Core Sandy Bridge": (("sse4_2", "avx"), "sandybridge"),
    "Atom / an old CPU": (("sse4_2",), "sse42"),
    "baseline x86-64 only": ((), "x64"),
}


@pytest.mark.parametrize("cpu", list(CPUS))
def test_each_cpu_gets_the_best_variant_it_runs_and_never_amx(cpu: str) -> None:
    flags, expected = CPUS[cpu]
    chosen = choose_variant(ALL, frozenset(flags))
    assert chosen == expected
    assert chosen not in NEVER_AUTO
    assert all(flag in flags for flag in VARIANT_FLAGS[chosen])


def test_amx_runs_only_when_asked_for_by_name() -> None:
    amx_cpu = frozenset(CPUS["Xeon Sapphire Rapids (AMX)"][0])
    assert variant_score("sapphirerapids", amx_cpu) > variant_score("zen4", amx_cpu)  # ggml itself would pick it
    assert choose_variant(ALL, amx_cpu, forced="sapphirerapids") == "sapphirerapids"


def test_a_forced_variant_this_cpu_cannot_run_is_refused() -> None:
    with pytest.raises(ConfigError, match="needs avx512f"):
        choose_variant(ALL, frozenset(BASE), forced="skylakex")
    with pytest.raises(ConfigError, match="not installed"):
        choose_variant(("x64",), frozenset(BASE), forced="haswell")


def test_no_runnable_variant_is_a_clear_error() -> None:
    with pytest.raises(PluginError, match="make install"):
        choose_variant(("haswell",), frozenset())


# -- the installed build -----------------------------------------------------------------------------

def _instructions(path: str) -> str:
    if shutil.which("objdump") is None:
        pytest.skip("needs objdump (Debian binutils) to read the installed libraries")
    return subprocess.run(["objdump", "-d", "--no-show-raw-insn", path], capture_output=True, text=True,
                          check=True).stdout


@pytest.fixture(scope="module")
def build():  # type: ignore[no-untyped-def]
    pytest.importorskip("llama_cpp", reason="llama-cpp-python is not installed: run `make install`")
    return llama_build()


def test_the_installed_llama_cpp_has_a_variant_per_cpu_generation(build) -> None:  # type: ignore[no-untyped-def]
    assert not build.single_cpu_library, (
        f"{build.lib_dir} holds one libggml-cpu.so, built for a single CPU: reinstall with `make install`"
    )
    assert {"x64", "haswell", "skylakex", "zen4"} <= set(build.variants)


@pytest.mark.parametrize("library", ["libllama.so", "libggml.so", "libggml-base.so"])
def test_the_core_libraries_hold_baseline_x86_64_code_only(build, library: str) -> None:  # type: ignore[no-untyped-def]
    code = _instructions(str(build.lib_dir / library))
    wide = [line for line in code.splitlines() if "%ymm" in line or "%zmm" in line or "%tmm" in line]
    assert not wide, f"{library} was compiled for one CPU (e.g. {wide[0].strip()}); reinstall with `make install`"


def test_the_variant_chosen_here_holds_no_amx_instructions(build) -> None:  # type: ignore[no-untyped-def]
    chosen = choose_variant(build.variants, cpu_flags())
    code = _instructions(str(variant_path(build, chosen)))
    amx = [line for line in code.splitlines() if any(op in line for op in ("tileloadd", "tdpb", "ldtilecfg"))]
    assert not amx, f"{chosen} holds AMX code: {amx[0].strip()}"
    # the AMX variant does hold it, so the check above can see it
    if "sapphirerapids" in build.variants:
        assert "ldtilecfg" in _instructions(str(variant_path(build, "sapphirerapids")))
