"""One trace from an HTTP request through Postgres to the outbox message; RED metrics by route."""

import json
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from redis.asyncio import Redis

from kit import outbox, signing, telemetry
from kit.db import Database
from kit.http import RequestContextMiddleware
from kit.telemetry import instrument_app, setup_tracing

SIGNER = signing.signer("kit_scratch", None, production=False)  # the relay's development key

EXPORTER = InMemorySpanExporter()


@pytest.fixture
def exporter() -> InMemorySpanExporter:
    setup_tracing("kit-test")
    if not telemetry._exporting:
        telemetry.export_to(EXPORTER, SimpleSpanProcessor)
    EXPORTER.clear()
    return EXPORTER


def outbox_app(db: Database, queue: str) -> FastAPI:
    """An app as kit builds them, whose one route queues a job on `queue`."""
    app = FastAPI()

    @app.post("/things/{thing_id}")
    async def create(thing_id: str) -> dict[str, str]:
        async with db.transaction() as conn:
            await outbox.add(conn, [outbox.job_message(queue, f"{queue}.do", {"id": thing_id})])
        return {"id": thing_id}

    instrument_app(app, setup_tracing("kit-test"))  # server spans only while exporting
    app.add_middleware(RequestContextMiddleware)
    return app


@pytest.fixture
async def app(scratch_db: Database, exporter: InMemorySpanExporter) -> FastAPI:
    return outbox_app(scratch_db, "trace-q")


@pytest.fixture
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as c:
        yield c


async def test_trace_crosses_the_database_and_the_outbox(
    client: httpx.AsyncClient, scratch_db: Database, redis_url: str, exporter: InMemorySpanExporter
) -> None:
    assert (await client.post("/things/t1")).status_code == 200
    spans = exporter.get_finished_spans()
    server = next(s for s in spans if s.name == "POST /things/{thing_id}")
    trace_id = server.context.trace_id
    assert any(s.attributes and s.attributes.get("db.system") == "postgresql" for s in spans)
    assert {s.context.trace_id for s in spans if s.name.startswith("INSERT")} == {trace_id}

    async with Redis.from_url(redis_url) as redis:
        await outbox.Relay(
            scratch_db, outbox.StreamPublisher(redis, SIGNER), "kit_scratch"
        ).publish_pending()
        entries: Any = await redis.xrange("trace-q")
    [(_, fields)] = entries
    traceparent = json.loads(fields[b"data"])["labels"]["traceparent"]
    assert traceparent.split("-")[1] == format(trace_id, "032x")


async def test_metrics_are_labelled_by_route_template(client: httpx.AsyncClient) -> None:
    await client.post("/things/abc")
    await client.post("/things/def")
    await client.get("/unknown/path")
    text = (await client.get("/metrics")).text
    assert 'http_requests_total{method="POST",route="/things/{thing_id}",status="200"}' in text
    assert 'route="<unmatched>",status="404"' in text
    assert "/things/abc" not in text


async def test_without_an_exporter_the_trace_id_still_reaches_the_outbox(
    scratch_db: Database, redis_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(telemetry, "_exporting", False)
    app = outbox_app(scratch_db, "quiet-q")  # no server spans: nothing exports
    caller = "0af7651916cd43dd8448eb211c80319c"
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as c:
        sent = {"traceparent": f"00-{caller}-b7ad6b7169203331-01"}
        assert (await c.post("/things/continued", headers=sent)).status_code == 200
        assert (await c.post("/things/fresh")).status_code == 200
    async with Redis.from_url(redis_url) as redis:
        await outbox.Relay(
            scratch_db, outbox.StreamPublisher(redis, SIGNER), "kit_scratch"
        ).publish_pending()
        entries: Any = await redis.xrange("quiet-q")
    trace_ids = {}
    for _, fields in entries:
        task = json.loads(fields[b"data"])
        trace_ids[task["args"][0]["id"]] = task["labels"]["traceparent"].split("-")[1]
    assert trace_ids["continued"] == caller
    assert trace_ids["fresh"] not in (caller, "0" * 32)
