"""The merchant-facing API document, served through the edge: `/api/v1/openapi.json`, and
Swagger UI at `/api/docs` (operations, schemas, examples, try-it with the test keys), its
assets served by the ui itself (kit.apidocs), so the reference works without internet.

`openapi.json` beside this module is every public operation of the five services in one
document; `tests/contract/contracts.py` writes it from the services' own documents and the
contract tests fail when it drifts from them.
"""

from pathlib import Path

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import FileResponse, HTMLResponse

from kit.apidocs import serve_assets
from ui.pages import templates

DOCUMENT = Path(__file__).parent / "openapi.json"
INIT = Path(__file__).parent / "static" / "api-docs.js"  # no inline script: the CSP forbids it

router = APIRouter(include_in_schema=False)


def install(app: FastAPI) -> None:
    app.include_router(router)
    serve_assets(app, "/api/docs/assets")


@router.get("/api/v1/openapi.json")
async def openapi() -> FileResponse:
    return FileResponse(DOCUMENT, media_type="application/json")


@router.get("/api/docs/init.js")
async def init_script() -> FileResponse:
    return FileResponse(INIT, media_type="text/javascript")


@router.get("/api/docs")
async def docs(request: Request) -> HTMLResponse:
    return templates.TemplateResponse(request, "api_reference.html", {})
