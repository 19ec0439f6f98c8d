"""Async tests without a plugin: :func:`run` runs an ``async def`` test on its own event loop
(fixtures as usual), :func:`until` waits for a condition a background task brings about."""

from __future__ import annotations

import asyncio
import functools
import time
from collections.abc import Awaitable, Callable
from typing import Any

__all__ = ["run", "until"]


def run(test: Callable[..., Awaitable[None]]) -> Callable[..., None]:
    """The async test run on its own event loop (fixtures as usual)."""

    @functools.wraps(test)
    def sync(*args: Any, **kwargs: Any) -> None:
        asyncio.run(test(*args, **kwargs))  # type: ignore[arg-type]

    return sync


async def until(condition: Callable[[], bool], seconds: float = 15.0) -> None:
    """Return once ``condition()`` holds; AssertionError after ``seconds``."""
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() >= deadline:
            raise AssertionError("condition not reached in time")
        await asyncio.sleep(0.02)
