"""The README's Serve section, run as written: `dayshift keys create`, its curl line, the pages it names.

The curl command is taken from README.md itself and run by bash with real curl
(only the port differs: the server listens on a free one), so the README cannot
drift from what the server accepts: curl's `-d` sends
`application/x-www-form-urlencoded`, and the body is JSON all the same.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from dayshift.cli.demo import corpus_dir
from dayshift.testing.serve_process import ServeProcess

README = Path(__file__).parents[2] / "README.md"
DAYSHIFT = str(Path(sys.executable).with_name("dayshift"))
ENV = {**os.environ, "HF_HUB_OFFLINE": "1"}
pytestmark = pytest.mark.skipif(shutil.which("curl") is None, reason="curl is not installed (apt-get install curl)")


def readme_lines(prefix: str) -> list[str]:
    """Lines of the README's bash blocks that start with `prefix`, without their trailing comments."""
    blocks = re.findall(r"```bash\n(.*?)```", README.read_text(encoding="utf-8"), flags=re.S)
    return [re.sub(r"\s+#.*$", "", line).strip() for block in blocks for line in block.splitlines()
            if line.startswith(prefix)]


@pytest.fixture(scope="module")
def keyed_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[ServeProcess, str]]:
    folder = tmp_path_factory.mktemp("readme")
    (ingest,) = readme_lines("dayshift --tenant acme ingest")
    subprocess.run([DAYSHIFT, "--data-dir", str(folder), *ingest.split()[1:-1], str(corpus_dir())], check=True,
                   capture_output=True, env=ENV)
    (create,) = readme_lines("dayshift keys create")
    made = subprocess.run([DAYSHIFT, "--data-dir", str(folder), *create.split()[1:]], check=True,
                          capture_output=True, text=True, env=ENV)
    key = re.match(r"dsk_[A-Za-z0-9_-]+", made.stdout)  # the key alone on the first line
    assert key, made.stdout
    with ServeProcess(folder) as server:
        yield server, key.group(0)


def test_the_readme_curl_command_answers_as_written(keyed_server: tuple[ServeProcess, str]) -> None:
    server, key = keyed_server
    (curl,) = readme_lines("curl ")
    assert "localhost:8000" in curl and "Content-Type" not in curl  # as a newcomer types it
    command = curl.replace("localhost:8000", f"127.0.0.1:{server.port}")
    run = subprocess.run(["bash", "-c", command], capture_output=True, text=True, timeout=300,
                         env={**ENV, "KEY": key})
    assert run.returncode == 0, run.stderr
    events = re.findall(r"^event: (\w+)$", run.stdout, flags=re.M)
    assert events and events[-1] == "done" and "answer" in events, run.stdout[-2000:]


def test_the_same_body_as_json_or_text_or_with_no_content_type(keyed_server: tuple[ServeProcess, str]) -> None:
    server, key = keyed_server
    body = b'{"query": "stale chunks", "k": 1}'
    for content_type in ("application/json", "text/plain", "application/x-www-form-urlencoded", None):
        headers = {"Authorization": f"Bearer {key}"} | ({"Content-Type": content_type} if content_type else {})
        r = httpx.post(f"{server.url}/v1/search", content=body, headers=headers)
        assert r.status_code == 200 and len(r.json()["hits"]) == 1, (content_type, r.text)
    r = httpx.post(f"{server.url}/v1/search", content=b"query=x", headers={"Authorization": f"Bearer {key}"})
    assert r.status_code == 422 and "JSON" in r.json()["detail"]


def test_the_pages_the_readme_names_are_there(keyed_server: tuple[ServeProcess, str]) -> None:
    server, _ = keyed_server
    named = set(re.findall(r"at (/\w+)\b", README.read_text(encoding="utf-8"))) | {"/monitor", "/docs"}
    assert "/review" in named
    for path in sorted(named):
        r = httpx.get(f"{server.url}{path}")
        assert r.status_code == 200 and "text/html" in r.headers["content-type"], path
    assert "review.js" in httpx.get(f"{server.url}/review").text
    assert "monitor.js" in httpx.get(f"{server.url}/monitor").text
