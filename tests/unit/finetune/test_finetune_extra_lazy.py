"""The finetune extra stays optional: the CLI, the assembly of backends and the service import none of it."""

from __future__ import annotations

import subprocess
import sys

EXTRA = ("sentence_transformers", "peft", "mlflow", "wandb", "gguf", "dayshift.finetune.train_reranker",
         "dayshift.finetune.tracking")


def test_the_default_entry_points_import_nothing_of_the_finetune_extra() -> None:
    code = ("import sys, dayshift.cli.main, dayshift.assemble, dayshift.retrieve.retriever; "
            f"print(','.join(m for m in {EXTRA!r} if m in sys.modules))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=900, check=True,
                          env={"HF_HUB_OFFLINE": "1", "PATH": "/usr/bin:/bin"})
    assert done.stdout.strip() == ""
