"""The web UI's files, one GET route each, plus the pages' short paths (`/`, `/review`, `/monitor`).

    GET /                 index.html (Ask)
    GET /review           review.html   (also /review.html)
    GET /monitor          monitor.html  (also /monitor.html)
    GET /agent            agent.html    (also /agent.html)
    GET /<file>           every other file of service/ui (app.js, style.css, ...)

The files are routes, not a StaticFiles mount at `/`: a catch-all mount would
match every path and every method, so a wrong method on an API route would get
the mount's 404 instead of 405 with an `Allow` header, and an unknown path
could never reach the router's own 404.

Left out: caching headers beyond what FileResponse sets (ETag, Last-Modified),
and any file added to the folder after the app was built.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from fastapi import APIRouter
from fastapi.responses import FileResponse

PAGES = {"/": "index.html", "/review": "review.html", "/monitor": "monitor.html", "/agent": "agent.html"}
_TYPES = {".js": "text/javascript; charset=utf-8", ".css": "text/css; charset=utf-8",
          ".html": "text/html; charset=utf-8"}


def ui_folder() -> Path:
    return Path(str(resources.files("dayshift.service") / "ui"))


def build_router(folder: Path | None = None) -> APIRouter:
    """One GET route per file of the UI folder and per page path; none of them is in the OpenAPI document."""
    folder = folder or ui_folder()
    router = APIRouter(include_in_schema=False)
    paths = {f"/{p.name}": p.name for p in sorted(folder.iterdir()) if p.is_file()}
    paths |= PAGES
    for path, name in paths.items():
        router.add_api_route(path, _serve(folder / name), methods=["GET", "HEAD"], name=f"ui:{path}")
    return router


def _serve(file: Path):  # type: ignore[no-untyped-def]
    media_type = _TYPES.get(file.suffix)

    def serve() -> FileResponse:
        return FileResponse(file, media_type=media_type)

    return serve
