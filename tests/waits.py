"""Waiting for asynchronous outcomes (CONVENTIONS.md, "Waiting in tests").

Poll the condition itself, never sleep a fixed time: a passing test returns as soon as the
condition holds, so the bound can be generous enough for a loaded 2-core machine.
"""

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Literal, TypeVar

T = TypeVar("T")

WAIT_SECONDS = 60.0  # the default bound; a test that passes never waits this long
POLL_SECONDS = 0.1


def eventually(
    check: Callable[[], T | Literal[False] | None], what: str, timeout: float = WAIT_SECONDS
) -> T:
    """`check()` until it returns something truthy, and return that; fail naming `what`."""
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() >= deadline:
            raise AssertionError(f"waited {timeout:.0f} s for {what}; last check gave {result!r}")
        time.sleep(POLL_SECONDS)


async def eventually_async(
    check: Callable[[], Awaitable[T | Literal[False] | None]],
    what: str,
    timeout: float = WAIT_SECONDS,  # noqa: ASYNC109 - a bound reported by name, as `eventually`
) -> T:
    """`eventually` for a coroutine check, polling without blocking the event loop."""
    deadline = time.monotonic() + timeout
    while True:
        result = await check()
        if result:
            return result
        if time.monotonic() >= deadline:
            raise AssertionError(f"waited {timeout:.0f} s for {what}; last check gave {result!r}")
        await asyncio.sleep(POLL_SECONDS)
