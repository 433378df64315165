"""`dayshift status` with a store backend that does not exist is a configuration error, not an empty index."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

DAYSHIFT = str(Path(sys.executable).with_name("dayshift"))


def status(data_dir: Path, **env: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("DAYSHIFT_")}
    return subprocess.run([DAYSHIFT, "--data-dir", str(data_dir), "status"], capture_output=True, text=True,
                          timeout=120, env={**clean, "HF_HUB_OFFLINE": "1", **env})


def test_an_unknown_store_backend_is_an_error_that_names_the_installed_ones(tmp_path: Path) -> None:
    result = status(tmp_path, DAYSHIFT_STORE__BACKEND="pinecone")
    assert result.returncode == 2, result.stdout
    assert 'no store named "pinecone"' in result.stderr and "embedded" in result.stderr
    assert "documents" not in result.stdout  # no empty index printed as if it were true


def test_an_empty_folder_with_the_default_backend_says_never_synced(tmp_path: Path) -> None:
    result = status(tmp_path)
    assert result.returncode == 0 and "never synced" in result.stdout
