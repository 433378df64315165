"""Run the `dayshift` console script of this environment as a user would, in a clean environment."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest


def _dayshift() -> str:
    beside = Path(sys.executable).with_name("dayshift")  # the console script of this environment
    found = str(beside) if beside.exists() else shutil.which("dayshift")
    if not found:
        pytest.skip("the dayshift console script is not installed (pip install -e .)")
    return found


def run(data_dir: Path, *args: str, timeout: float = 600) -> subprocess.CompletedProcess[str]:
    # A user's environment holds no DAYSHIFT_ settings, except the test session's one models folder,
    # so the 1.1 GB reader is joined once per session rather than once per data folder.
    env = {k: v for k, v in os.environ.items()
           if (not k.startswith("DAYSHIFT_") or k == "DAYSHIFT_LLM__MODELS_DIR") and k != "FORCE_COLOR"}
    env.update(HF_HUB_OFFLINE="1", TOKENIZERS_PARALLELISM="false", COLUMNS="400", NO_COLOR="1")
    return subprocess.run(
        [_dayshift(), "--data-dir", str(data_dir), *args],
        env=env, capture_output=True, text=True, timeout=timeout, check=False,
    )
