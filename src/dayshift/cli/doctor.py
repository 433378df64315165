"""`dayshift doctor`: the CPU, and which of its features llama.cpp and the embedder actually use."""

from __future__ import annotations

import json
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from dayshift.doctor import machine_report
from dayshift.settings import Settings


def doctor(ctx: typer.Context, as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False) -> None:
    """The CPU, the llama.cpp kernels loaded for it (never AMX), and the embedder's precision and runtime."""
    settings: Settings = ctx.obj
    report = machine_report(settings)
    if as_json:
        typer.echo(json.dumps(report, indent=2))
        return
    console = Console(highlight=False)
    cpu, llama, embed = report["cpu"], report["llama_cpp"], report["embedder"]
    console.print(f"[bold]cpu[/] {cpu['model']}\n  features: {' '.join(cpu['flags']) or '(none reported)'}")
    table = Table("part", "what runs", box=None, show_header=False)
    if "error" in llama:
        table.add_row("llama.cpp", f"[red]{llama['error']}[/]")
    else:
        table.add_row("llama.cpp build", llama["build"])
        table.add_row("llama.cpp kernels", f"{llama['loaded']} ({' '.join(llama['loaded_needs']) or 'baseline x86-64'})")
        if llama["never_chosen"]:
            table.add_row("never chosen", ", ".join(llama["never_chosen"]) + " (AMX kernels crash llama_decode)")
        table.add_row("llama.cpp reports", llama["system_info"])
    table.add_row("embedder", f"{embed['backend']} / runtime {embed['runtime']}")
    if embed["backend"] == "local":
        table.add_row("  precision", f"{embed['precision_setting']} -> {embed['precision_auto']} here "
                      f"(bf16 {'yes' if embed['bf16'] else 'no'}, int8 dot products {'yes' if embed['int8_dot'] else 'no'}, "
                      f"oneDNN int8 {'yes' if embed['int8_kernels'] else 'no'})")
        table.add_row("  torch", f"{embed['torch']}, CPU capability {embed['torch_cpu_capability']}, forward pass "
                      f"{'compiled' if embed['forward_compiled'] else 'not compiled (slower beside Python work)'}")
        table.add_row("  onnxruntime", f"{embed['onnxruntime']} ({', '.join(embed['onnx_providers'])})")
    console.print(table)
