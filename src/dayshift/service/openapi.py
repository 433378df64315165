"""The OpenAPI document, made to say what the server enforces.

    GET /openapi.json
        security      declared only while the server applies it: an open loopback server (no key
                      at all) serves the document without security schemes, since it takes no key
        request body  maxLength of a JSON body (service.max_request_kb), of an upload
                      (service.max_upload_mb), the question's limit (service.max_question_chars)
        every route   405 with `Allow` for a method the path does not take (routes/ui.py explains why)

FastAPI builds the document from the routes once; this module keeps that as the base and
adjusts a copy per request, because whether keys exist can change while the server runs
(`dayshift keys create` in another process).

Left out: per-key scopes (there are none: a key is a tenant, the admin key acts for any).
"""

from __future__ import annotations

import copy
from typing import Any

from fastapi import FastAPI, Request
from fastapi.openapi.utils import get_openapi
from fastapi.responses import JSONResponse

from dayshift.settings import Settings

_SCHEMA_URL = "/openapi.json"


def install_openapi(app: FastAPI, settings: Settings) -> None:
    """Serve /openapi.json from `document(...)`; /docs keeps reading it from the same URL."""
    base: dict[str, Any] = {}

    def built() -> dict[str, Any]:
        if not base:
            base.update(_with_limits(get_openapi(
                title=app.title, version=app.version, summary=app.summary, description=app.description,
                routes=app.routes,
            ), settings))
        return base

    app.openapi = built  # type: ignore[method-assign]
    app.router.routes = [r for r in app.router.routes if getattr(r, "path", None) != _SCHEMA_URL]

    @app.get(_SCHEMA_URL, include_in_schema=False)
    def openapi(request: Request) -> JSONResponse:
        service = getattr(request.app.state, "service", None)
        open_server = service is not None and service.auth.open
        return JSONResponse(document(built(), open_server=open_server))


def document(base: dict[str, Any], *, open_server: bool) -> dict[str, Any]:
    """The base document, without security when the server takes no key."""
    if not open_server:
        return base
    doc = copy.deepcopy(base)
    doc.get("components", {}).pop("securitySchemes", None)
    for operations in doc.get("paths", {}).values():
        for operation in operations.values():
            if isinstance(operation, dict):
                operation.pop("security", None)
                operation.get("responses", {}).pop("401", None)
    return doc


def _generic(response: dict[str, Any]) -> bool:
    """A response with no body schema of its own: none, FastAPI's validation error, or an HTML page's."""
    ours = ("#/components/schemas/Problem", "#/components/schemas/HTTPValidationError")
    return all(kind == "text/html" or not content.get("schema") or content["schema"].get("$ref") in ours
               for kind, content in response.get("content", {}).items())


def _with_limits(doc: dict[str, Any], settings: Settings) -> dict[str, Any]:
    """Body limits the server enforces before a route runs, the 405 every route may answer, Problem bodies."""
    s = settings.service
    for path, operations in doc.get("paths", {}).items():
        for operation in operations.values():
            if not isinstance(operation, dict):
                continue
            responses = operation.setdefault("responses", {})
            responses["405"] = {"description": "The path does not take this method: `Allow` lists those it takes",
                                "headers": {"Allow": {"schema": {"type": "string"}}}}
            responses["422"] = {"description": "The request does not fit the schema; `detail` names the field"}
            if operation.get("requestBody", {}).get("content"):
                limit = (f"at most {s.max_upload_mb} MB in all (service.max_upload_mb)"
                         if path.startswith("/v1/documents") else
                         f"at most {s.max_request_kb} KiB (service.max_request_kb)")
                operation["requestBody"]["description"] = f"The body: {limit}; a larger one gets 413."
                responses["413"] = {"description": f"The body is over the limit: {limit}."}
            for status, response in responses.items():  # an error body is a Problem, as JSON, unless the route
                if status.isdigit() and int(status) >= 400 and _generic(response):  # names its own (OpenAI's)
                    response["content"] = {"application/json": {"schema": {"$ref": "#/components/schemas/Problem"}}}
    question = doc.get("components", {}).get("schemas", {}).get("AskRequest", {}).get("properties", {}).get("question")
    if question is not None:
        question["maxLength"] = min(question.get("maxLength", s.max_question_chars), s.max_question_chars)
    return doc
