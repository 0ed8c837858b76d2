import asyncio

import pytest
from prometheus_client import REGISTRY

from kit.worker import Loop, Progress, Supervisor, _log_task_stacks
from tests.waits import eventually_async


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
    now = [1000.0]  # the liveness clock, moved by the test
    liveness = Liveness(allowance=0.2, clock=lambda: now[0])
    receive = liveness.watch("receive")
    now[0] += 0.3  # the receive loop reported nothing for longer than its allowance
    async with Redis.from_url(redis_url) as redis:
        running = asyncio.create_task(Supervisor([], liveness).run(redis, worker, ttl=3))

        async def first_round_done() -> bool:
            # The supervisor watches itself first; with a loop stalled, its round ends in a
            # sleep without a beat, before this check can run.
            return "supervisor" in liveness.marks

        await eventually_async(first_round_done, "the supervisor's first round")
        assert not await health.workers_running(redis, [worker])
        receive()  # the receive loop reads again

        async def beating() -> bool:
            return await health.workers_running(redis, [worker])

        await eventually_async(beating, "a heartbeat once the receive loop reads again")
        running.cancel()
        await asyncio.gather(running, return_exceptions=True)
        await redis.delete(health.heartbeat_key(worker))


async def test_sigusr1_logs_where_every_task_waits(caplog: pytest.LogCaptureFixture) -> None:
    async def stuck_somewhere() -> None:
        await asyncio.Event().wait()

    task = asyncio.create_task(stuck_somewhere(), name="stuck")
    await asyncio.sleep(0)
    _log_task_stacks(asyncio.get_running_loop())
    task.cancel()
    stacks = {r.task: r.stack for r in caplog.records if r.getMessage() == "task stack"}  # type: ignore[attr-defined]
    assert "stuck_somewhere" in stacks["stuck"]
