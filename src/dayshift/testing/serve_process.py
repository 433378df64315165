"""`dayshift serve` as a real process on a free loopback port, for end-to-end tests and benchmarks.

    with ServeProcess(data_dir) as server:      # started and ready (GET /readyz is 200)
        httpx.get(f"{server.url}/v1/traces")
        server.kill(); server.start()           # SIGKILL, then a fresh process on the same port

The environment is the caller's, less any DAYSHIFT_* variable but the models folder, plus `env`;
the server's log goes to <data_dir>/serve-<port>.log and its tail is shown
when it fails to start.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from types import TracebackType

import httpx


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class ServeProcess:
    def __init__(self, data_dir: Path, *, env: dict[str, str] | None = None, ready_timeout_s: float = 600,
                 log_level: str = "warning") -> None:
        self.data_dir, self.port = Path(data_dir), free_port()
        self.log_level = log_level
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = self.data_dir / f"serve-{self.port}.log"
        self.ready_timeout_s = ready_timeout_s
        self._env = {k: v for k, v in os.environ.items()
                     if not k.startswith("DAYSHIFT_") or k == "DAYSHIFT_LLM__MODELS_DIR"}
        self._env.update(HF_HUB_OFFLINE="1", TOKENIZERS_PARALLELISM="false", NO_COLOR="1", **(env or {}))
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        """Start the server and wait until it is ready."""
        dayshift = str(Path(sys.executable).with_name("dayshift"))
        with self.log.open("ab") as out:
            self.process = subprocess.Popen(
                [dayshift, "--data-dir", str(self.data_dir), "serve", "--port", str(self.port),
                 "--log-level", self.log_level],
                env=self._env, stdout=out, stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + self.ready_timeout_s
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{self.url}/readyz", timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            if self.process.poll() is not None:
                raise RuntimeError(f"dayshift serve exited ({self.process.returncode}):\n{self._tail()}")
            time.sleep(0.2)
        self.stop()
        raise RuntimeError(f"dayshift serve was not ready in {self.ready_timeout_s:.0f} s:\n{self._tail()}")

    def kill(self) -> None:
        """SIGKILL: no shutdown, no flush."""
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=10)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def _tail(self) -> str:
        return self.log.read_text(errors="replace")[-3000:] if self.log.exists() else "(no log)"

    def __enter__(self) -> ServeProcess:
        self.start()
        return self

    def __exit__(self, *_: type[BaseException] | BaseException | TracebackType | None) -> None:
        self.stop()
