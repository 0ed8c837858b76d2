"""Swagger UI for an OpenAPI document, with its assets served by the process itself (from the
fastapi-offline wheel), not a CDN: `/docs` renders on a laptop without internet and in an
air-gapped cluster."""

from pathlib import Path

import fastapi_offline
from fastapi import FastAPI
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

ASSETS = Path(fastapi_offline.__file__).parent / "static"  # swagger-ui-bundle.js and .css


def serve_assets(app: FastAPI, prefix: str) -> None:
    """Swagger UI's script, stylesheet and icon under `prefix` (`<prefix>/swagger-ui.css`…)."""
    app.mount(prefix, StaticFiles(directory=ASSETS), name=f"swagger-ui{prefix}")


def add_docs(app: FastAPI, path: str = "/docs") -> None:
    """The app's own document (`app.openapi_url`) in Swagger UI at `path`, try-it included."""
    assets = f"{path}/assets"
    serve_assets(app, assets)

    @app.get(path, include_in_schema=False)
    async def docs() -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url=app.openapi_url or "/openapi.json",
            title=f"{app.title} API",
            swagger_js_url=f"{assets}/swagger-ui-bundle.js",
            swagger_css_url=f"{assets}/swagger-ui.css",
            swagger_favicon_url=f"{assets}/favicon.png",
        )
