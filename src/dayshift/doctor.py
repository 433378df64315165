"""What this machine's CPU is, and which of its features each local model actually uses.

    machine_report(settings) -> {"cpu": {...}, "llama_cpp": {...}, "readers": [...], "embedder": {...}}

`dayshift doctor` prints it. The llama.cpp part comes from llama.cpp itself
(`llama_print_system_info` of the CPU variant dayshift loaded), the embedder
part from torch and oneDNN, so the report shows what runs, not what the CPU
could run. Loading nothing heavy: no model weights are read.

Left out: GPUs, and the speed of each path (benchmarks/ measures those).
"""

from __future__ import annotations

from typing import Any

from dayshift.errors import DayshiftError
from dayshift.llm.cpu import NEVER_AUTO, VARIANT_FLAGS, cpu_flags, cpu_model
from dayshift.settings import Settings

# The flags that decide a path, as /proc/cpuinfo names them.
RELEVANT_FLAGS = ("sse4_2", "avx", "avx2", "fma", "f16c", "bmi2", "avx_vnni", "avx512f", "avx512bw", "avx512vl",
                  "avx512vbmi", "avx512_vnni", "avx512_bf16", "amx_tile", "amx_int8", "amx_bf16")


def machine_report(settings: Settings) -> dict[str, Any]:
    flags = cpu_flags()
    return {
        "cpu": {"model": cpu_model(), "flags": [f for f in RELEVANT_FLAGS if f in flags]},
        "llama_cpp": _llama_report(settings),
        "embedder": _embedder_report(settings),
    }


def _llama_report(settings: Settings) -> dict[str, Any]:
    from dayshift.llm.cpu import llama_build, load_cpu_backend, system_info

    try:
        build = llama_build()
        backend = load_cpu_backend(forced=settings.llm.cpu_variant)
        info = system_info()
    except DayshiftError as exc:
        return {"error": str(exc)}
    return {
        "build": "a CPU variant per generation, chosen at run time" if build.variants
        else "one CPU library, built for a single CPU (not portable: reinstall with `make install`)",
        "variants": list(build.variants),
        "never_chosen": sorted(NEVER_AUTO & set(build.variants)),
        "loaded": backend.variant,
        "loaded_needs": list(VARIANT_FLAGS.get(backend.variant, ())),
        "system_info": info,
    }


def _embedder_report(settings: Settings) -> dict[str, Any]:
    report: dict[str, Any] = {"backend": settings.embed.backend, "runtime": settings.embed.runtime}
    if settings.embed.backend != "local":
        return report
    import onnxruntime
    import torch

    from dayshift.embed.minilm import (
        _compiled_encode,
        best_precision,
        cpu_has_bf16,
        cpu_has_int8_dot,
        int8_ops_available,
    )

    report.update({
        "precision_setting": settings.embed.precision,
        "precision_auto": best_precision(),
        "bf16": cpu_has_bf16(),
        "int8_dot": cpu_has_int8_dot(),
        "int8_kernels": int8_ops_available(),
        "torch": torch.__version__,
        "torch_cpu_capability": torch.backends.cpu.get_cpu_capability(),
        "forward_compiled": isinstance(_compiled_encode(), torch.jit.ScriptFunction),
        "onnxruntime": onnxruntime.__version__,
        "onnx_providers": onnxruntime.get_available_providers(),
    })
    return report
