"""Each service's /docs is Swagger UI whose script and stylesheet the service serves itself:
FastAPI's default page loads them from a CDN and stays blank without internet."""

import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
from fastapi import FastAPI

from kit.app import create_service_app
from kit.settings import ServiceSettings


@asynccontextmanager
async def no_resources(app: FastAPI) -> AsyncIterator[dict[str, Any]]:
    yield {}


async def test_docs_load_nothing_from_another_host() -> None:
    settings = ServiceSettings(database_url="postgresql://x@h/d", environment="test")
    app = create_service_app("orders", settings, no_resources, [])
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as c:
        page = await c.get("/docs")
        assets = re.findall(r'(?:src|href)="([^"]+)"', page.text)
        fetched = [await c.get(url) for url in assets]
        redoc = await c.get("/redoc")  # FastAPI's other CDN page is not served
    assert page.status_code == 200
    assert {a.rsplit("/", 1)[-1] for a in assets} >= {"swagger-ui-bundle.js", "swagger-ui.css"}
    assert all(url.startswith("/docs/assets/") for url in assets), assets
    assert [r.status_code for r in fetched] == [200] * len(assets)
    assert "'/openapi.json'" in page.text or '"/openapi.json"' in page.text
    assert redoc.status_code == 404
