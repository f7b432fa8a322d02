"""The dashboard at `/`: one HTML page, one script, one stylesheet, all from this server.

A strict Content-Security-Policy allows nothing else: no inline script or style, no other
origin, no framing.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter
from fastapi.responses import FileResponse

router = APIRouter(include_in_schema=False)

_FILES = Path(__file__).parents[1] / "dashboard"
CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; "
    "img-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
)
_HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-cache",
}


@router.get("/")
def dashboard() -> FileResponse:
    return FileResponse(_FILES / "index.html", media_type="text/html", headers=_HEADERS)


@router.get("/static/app.js")
def script() -> FileResponse:
    return FileResponse(_FILES / "app.js", media_type="text/javascript", headers=_HEADERS)


@router.get("/static/app.css")
def stylesheet() -> FileResponse:
    return FileResponse(_FILES / "app.css", media_type="text/css", headers=_HEADERS)
