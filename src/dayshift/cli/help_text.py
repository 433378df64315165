"""Help text the way command-line users read it, whatever Typer release is installed.

    Usage: dayshift ingest [OPTIONS] PATHS...      not  {paths}...
    --json    Print the report as JSON.            not  --json  <bool>  ...

Typer 0.29 started writing required arguments as `{name}` in the usage line and a `<bool>`
type beside every flag (`--help <bool>`), which reads as if the flag took a value. This
restores the click convention: arguments in capitals, optional ones in brackets, and no
type beside an on/off flag. Only those two renderings are touched, and only where the
installed Typer has them.

Left out: the `<str>` / `<int>` type names of options that do take a value (Typer's own choice).
"""

from __future__ import annotations

from typing import Any

import typer.core

_FIXED = "_dayshift_help_fixed"


def fix_help_rendering() -> None:
    """Patch Typer's argument usage name and flag type display; idempotent."""
    argument, option = typer.core.TyperArgument, typer.core.TyperOption
    if getattr(argument, _FIXED, False):
        return
    if hasattr(argument, "_usage_display_name"):
        argument._usage_display_name = _usage_display_name  # type: ignore[method-assign]
    original = getattr(option, "display_type_rich", None)
    if original is not None:
        def display_type_rich(self: Any, ctx: Any) -> str | None:
            if getattr(self, "is_flag", False) or getattr(self, "count", False):
                return None  # a flag takes no value: no type to show
            return original(self, ctx)  # type: ignore[no-any-return]

        option.display_type_rich = display_type_rich  # type: ignore[method-assign]
    setattr(argument, _FIXED, True)


def _usage_display_name(self: Any) -> str:
    """PATHS..., [TENANT]: click's form for the usage line."""
    name = self.metavar if self.metavar is not None else (self.name or "").upper()
    if not self.required and not name.startswith("["):
        name = f"[{name}]"
    return f"{name}..." if self.nargs != 1 else name
