"""The pipeline console (``/ui``) and the self-hosted API docs (``/docs``, ``/redoc``).

Everything the browser loads is served from ``static/`` (its third-party files vendored from the
npm registry by ``make vendor-console``), so the pages work with no internet. The pages hold no
privilege: they call the REST API with the token the user gives them.
"""

from __future__ import annotations

import html
from pathlib import Path

from fastapi import APIRouter, FastAPI
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

from api.security_headers import with_inline_scripts
from pipeline_engine.settings import Settings

__all__ = ["STATIC_DIR", "install_console"]

STATIC_DIR = Path(__file__).resolve().parent / "static"
_STATIC_URL = "/ui/static"
_VENDOR_URL = f"{_STATIC_URL}/vendor"
_FAVICON_URL = f"{_STATIC_URL}/favicon.svg"


def _console_page(settings: Settings) -> str:
    page = (STATIC_DIR / "index.html").read_text(encoding="utf-8")
    return page.replace("{{temporal_ui}}", html.escape(settings.temporal_ui_url or "")).replace(
        "{{namespace}}", html.escape(settings.temporal_namespace)
    )


def _router(settings: Settings, openapi_url: str, title: str) -> APIRouter:
    router = APIRouter(include_in_schema=False)
    page = _console_page(settings)

    @router.get("/ui")
    @router.get("/ui/")
    @router.get("/ui/pipelines/{pipeline_id}")
    @router.get("/ui/tenants/{tenant_id}")
    @router.get("/ui/tenants/{tenant_id}/pipelines")
    @router.get("/ui/tenants/{tenant_id}/pipelines/{name}")
    @router.get("/ui/batches")
    @router.get("/ui/batches/{batch_id}")
    async def console() -> HTMLResponse:
        # One page for every console address; it reads the path and fetches what it shows.
        return HTMLResponse(page, headers={"Cache-Control": "no-store"})

    @router.get("/docs")
    async def swagger_ui() -> HTMLResponse:
        page = get_swagger_ui_html(
            openapi_url=openapi_url,
            title=f"{title} - Swagger UI",
            swagger_js_url=f"{_VENDOR_URL}/swagger-ui-dist/swagger-ui-bundle.js",
            swagger_css_url=f"{_VENDOR_URL}/swagger-ui-dist/swagger-ui.css",
            swagger_favicon_url=_FAVICON_URL,
        )
        return with_inline_scripts(page)  # its start-up script, allowed by digest

    @router.get("/redoc")
    async def redoc() -> HTMLResponse:
        page = get_redoc_html(
            openapi_url=openapi_url,
            title=f"{title} - ReDoc",
            redoc_js_url=f"{_VENDOR_URL}/redoc/redoc.standalone.js",
            redoc_favicon_url=_FAVICON_URL,
            with_google_fonts=False,
        )
        # ReDoc's sidebar shows its maker's logo from cdn.redoc.ly: the policy takes images from
        # here only, so nothing is fetched from the internet (ReDoc hides an image that does not
        # load)
        return with_inline_scripts(page)

    return router


def install_console(app: FastAPI, settings: Settings) -> None:
    """Serve the console at ``/ui`` and the API docs at ``/docs`` and ``/redoc`` from ``app``.

    Create ``app`` with ``docs_url=None, redoc_url=None`` so FastAPI's CDN-loading pages are off.
    """
    app.include_router(_router(settings, app.openapi_url or "/openapi.json", app.title))
    app.mount(_STATIC_URL, StaticFiles(directory=STATIC_DIR), name="console-static")
