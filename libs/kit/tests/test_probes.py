"""The worker's probe server answers from the progress of its loops, not from being up."""

import asyncio
import secrets
import socket
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from prometheus_client import Counter

from kit.broker import ReclaimingStreamBroker
from kit.probes import Liveness, ProbeServer, serve_probes
from tests.waits import eventually_async

SERVED = Counter("probe_test_served_total", "A metric the probe server must export")


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@pytest.fixture
def probes() -> Iterator[tuple[str, Liveness, Clock]]:
    clock = Clock()
    liveness = Liveness(allowance=75, clock=clock)
    port = free_port()
    server: ProbeServer = serve_probes(port, "127.0.0.1", liveness)
    yield f"http://127.0.0.1:{port}", liveness, clock
    server.shutdown()
    server.server_close()


def test_liveness_names_the_loops_silent_past_their_allowance() -> None:
    clock = Clock()
    liveness = Liveness(allowance=75, clock=clock)
    receive = liveness.watch("receive")
    liveness.watch("supervisor")
    clock.now += 75
    assert liveness.stalled() == []
    clock.now += 1
    assert liveness.stalled() == ["receive", "supervisor"]
    receive()
    assert liveness.stalled() == ["supervisor"]


def test_probes_fail_while_a_loop_is_stalled_and_metrics_stay_served(
    probes: tuple[str, Liveness, Clock],
) -> None:
    url, liveness, clock = probes
    receive = liveness.watch("receive")
    SERVED.inc()
    for path in ("/livez", "/readyz"):
        ok = httpx.get(url + path)
        assert (ok.status_code, ok.json()) == (200, {"status": "ok"})
    clock.now += 76  # the receive loop hangs: it stops reporting progress
    for path in ("/livez", "/readyz"):
        stalled = httpx.get(url + path)
        assert stalled.status_code == 503
        assert stalled.json() == {"status": "stalled", "stalled": ["receive"]}
    metrics = httpx.get(url + "/metrics")  # the thread itself is fine: metrics still answer
    assert metrics.status_code == 200
    assert "probe_test_served_total 1.0" in metrics.text
    receive()
    assert httpx.get(url + "/livez").status_code == 200
    assert httpx.get(url + "/nope").status_code == 404


async def test_the_broker_receive_loop_reports_progress_until_it_hangs(redis_url: str) -> None:
    """Idle, XREADGROUP returns every `xread_block` ms and counts as progress; a read that never
    returns (a dead connection without a timeout, here simulated) turns the probe to 503."""
    liveness = Liveness(allowance=0.5)
    port = free_port()
    server = serve_probes(port, "127.0.0.1", liveness)
    broker = ReclaimingStreamBroker(
        url=redis_url, queue_name=f"probe-{secrets.token_hex(4)}", consumer_id="0", xread_block=50
    )
    await broker.startup()
    broker.progress = liveness.watch("receive")
    listening = asyncio.create_task(anext(broker.listen()))
    url = f"http://127.0.0.1:{port}/livez"
    async with httpx.AsyncClient() as client:
        try:
            await asyncio.sleep(1.0)  # twice the allowance, idle stream
            assert (await client.get(url)).status_code == 200

            hang = asyncio.Event()

            async def read_forever(redis: Any) -> Any:
                await hang.wait()

            broker._read = read_forever  # type: ignore[method-assign]

            async def refused() -> httpx.Response | None:
                # the read in flight returns once; the next one hangs past the allowance
                answer = await client.get(url)
                return answer if answer.status_code == 503 else None

            stalled = await eventually_async(refused, "/livez answering 503 for the hung read")
            assert stalled.json()["stalled"] == ["receive"]
        finally:
            listening.cancel()
            await asyncio.gather(listening, return_exceptions=True)
            await broker.shutdown()
            server.shutdown()
            server.server_close()
