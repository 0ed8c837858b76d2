import asyncio

import pytest
from prometheus_client import REGISTRY

from kit.worker import Loop, Progress, Supervisor


def restarts(name: str) -> float:
    return REGISTRY.get_sample_value("worker_loop_restarts_total", {"loop": name}) or 0.0


async def test_a_loop_without_progress_is_restarted_and_where_it_hung_is_logged(
    caplog: pytest.LogCaptureFixture,
) -> None:
    never = asyncio.Event()

    async def hangs_after_one_round(progress: Progress) -> None:
        progress()
        await never.wait()

    loop = Loop("hangs", hangs_after_one_round, allowance=30)
    supervisor = Supervisor([loop])
    supervisor.check()
    first = loop.task
    assert first is not None
    await asyncio.sleep(0)  # let it run its first round
    supervisor.check()
    assert loop.task is first, "restarted within its allowance"

    before = restarts("hangs")
    loop.last -= 31  # 31 s without progress
    supervisor.check()
    await asyncio.wait([first])
    assert first.cancelled()
    assert loop.task is not first
    assert not loop.task.done()
    assert restarts("hangs") == before + 1
    [stalled] = [r for r in caplog.records if r.getMessage().startswith("background loop stalled")]
    assert stalled.__dict__["loop"] == "hangs"
    assert "never.wait()" in stalled.__dict__["stack"]
    await supervisor.stop()
    assert loop.task.cancelled()


async def test_a_loop_that_ends_is_started_again(caplog: pytest.LogCaptureFixture) -> None:
    runs = 0

    async def crashes(progress: Progress) -> None:
        nonlocal runs
        runs += 1
        progress()
        raise RuntimeError("boom")

    loop = Loop("crashes", crashes, allowance=30)
    supervisor = Supervisor([loop])
    supervisor.check()
    assert loop.task is not None
    await asyncio.wait([loop.task])
    supervisor.check()
    assert loop.task is not None
    await asyncio.wait([loop.task])
    assert runs == 2
    [ended] = [r for r in caplog.records if r.getMessage().startswith("background loop ended")]
    assert "boom" in ended.__dict__["error"]
    await supervisor.stop()


async def test_no_heartbeat_while_the_receive_loop_is_stalled(redis_url: str) -> None:
    """`/health` reads the heartbeat: a worker whose receive loop hangs shows as stopped."""
    from redis.asyncio import Redis

    from kit import health
    from kit.probes import Liveness

    worker = f"stalled-{id(object())}"
    liveness = Liveness(allowance=0.2)
    liveness.watch("receive")  # and never again
    async with Redis.from_url(redis_url) as redis:
        await asyncio.sleep(0.3)
        running = asyncio.create_task(Supervisor([], liveness).run(redis, worker, ttl=3))
        await asyncio.sleep(0.1)
        assert not await health.workers_running(redis, [worker])
        progress = liveness.watch("receive")

        async def reads_again() -> None:
            while True:
                progress()
                await asyncio.sleep(0.05)

        reading = asyncio.create_task(reads_again())
        await asyncio.sleep(1.1)  # the next round (ttl / 3)
        assert await health.workers_running(redis, [worker])
        for task in (running, reading):
            task.cancel()
        await asyncio.gather(running, reading, return_exceptions=True)
        await redis.delete(health.heartbeat_key(worker))
