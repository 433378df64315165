"""llama-cpp-python's OpenAI-compatible server on a free loopback port, for benchmarks that compare a server backend.

    with llama_server(gguf, "--n_ctx", "2048") as base_url:   # http://127.0.0.1:<port>/v1
        ...
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

from dayshift.llm.cpu import backend_environment


class llama_server:  # noqa: N801  (used as a context manager, like open())
    def __init__(self, gguf: Path, *server_args: str, ready_s: float = 300) -> None:
        self.gguf, self.server_args, self.ready_s = gguf, server_args, ready_s

    def __enter__(self) -> str:
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        self.process = subprocess.Popen(
            [sys.executable, "-m", "llama_cpp.server", "--model", str(self.gguf), "--host", "127.0.0.1",
             "--port", str(port), *self.server_args],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env={**os.environ, **backend_environment()},
        )
        base_url = f"http://127.0.0.1:{port}/v1"
        deadline = time.monotonic() + self.ready_s
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"llama_cpp.server exited with {self.process.returncode}")
            try:
                if httpx.get(f"{base_url}/models", timeout=2.0).status_code == 200:
                    return base_url
            except httpx.TransportError:
                time.sleep(0.5)
        raise RuntimeError(f"llama_cpp.server did not start within {self.ready_s:.0f} s")

    def __exit__(self, *_: object) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
