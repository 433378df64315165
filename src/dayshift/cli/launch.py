"""The `dayshift` console script's first stop.

`dayshift review ...` is dispatched here without importing the rest of dayshift (models,
stores, the service, scipy): a linter run by a pre-commit hook on every commit has to start in
a fraction of a second, not the two seconds the full CLI takes to import. Every other command
goes through dayshift.cli.main, unchanged.
"""

from __future__ import annotations

import os
import sys


def main() -> None:
    if sys.argv[1:2] == ["review"]:
        from dayshift.cli.review import standalone

        standalone(sys.argv[2:])
        return
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from dayshift.cli.main import main as run_full

    run_full()
