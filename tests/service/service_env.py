"""A real service in-process: the bundled embedder and LLM (loaded once, conftest.models), a given data dir.

`service_env(tmp)` builds the app as `dayshift serve` does, but with the
models passed in (loaded once for the session) and an in-memory span exporter.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from dayshift.embed.base import Embedder
from dayshift.llm.client import LLMClient
from dayshift.service.app import build_service, create_app
from dayshift.service.state import Service
from dayshift.settings import Settings, load_settings


@dataclass
class ServiceEnv:
    settings: Settings
    service: Service
    client: TestClient
    spans: InMemorySpanExporter

    def headers(self, key: str | None) -> dict[str, str]:
        return {"Authorization": f"Bearer {key}"} if key else {}


def start_service(data_dir: Path, models: tuple[Embedder, LLMClient], **service: Any) -> Iterator[ServiceEnv]:
    settings = load_settings(data_dir=data_dir, service=service)
    embedder, llm = models
    spans = InMemorySpanExporter()
    built = build_service(settings, embedder=embedder, llm=llm, span_exporter=spans)
    with TestClient(create_app(settings, service=built)) as client:
        yield ServiceEnv(settings=settings, service=built, client=client, spans=spans)
