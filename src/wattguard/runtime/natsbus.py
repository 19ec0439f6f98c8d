"""The bus over NATS, for FEPs and the station in separate processes.

Same interface as :class:`~wattguard.network.bus.InProcessBus` (``publish`` and ``subscribe``
are plain calls), over a NATS connection owned by the running asyncio loop: ``publish`` queues
the message and one writer task sends the queue in order, so messages on a subject keep their
order; each subscription's handler runs on the loop as messages arrive. Delivery is at most
once, like NATS core: what must not be lost is protected end to end by the 698 acknowledgement
of each report (a terminal sends again what the station did not acknowledge).

Needs the ``nats`` extra (``pip install 'wattguard[nats]'``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

from wattguard.errors import ConfigError
from wattguard.network.bus import Handler, _check

__all__ = ["NatsBus"]

log = logging.getLogger(__name__)


async def _log_error(error: Exception) -> None:
    # e.g. the server's "Permissions Violation": this service tried what its user may not
    log.warning("NATS: %s", error)


class NatsBus:
    """The :class:`~wattguard.network.bus.Bus` over NATS, for FEPs and the station in separate
    processes: at most once delivery, in publication order (see the module docstring)."""

    def __init__(self, connection: Any) -> None:
        self._nc = connection
        self._queue: asyncio.Queue[tuple[str, bytes] | None] = asyncio.Queue()
        self._writer = asyncio.get_running_loop().create_task(self._write())
        self._subscriptions: list[Any] = []
        self._tasks: set[asyncio.Task[Any]] = set()
        self.published = 0

    @classmethod
    async def connect(
        cls, url: str, *, name: str = "wattguard", nkey_seed: Path | None = None
    ) -> NatsBus:
        """Connect to the server at ``url``; with ``nkey_seed`` (a file holding a NATS user
        NKey seed, see :mod:`wattguard.runtime.buskeys`) authenticate as that user."""
        try:
            import nats
        except ImportError:
            raise ConfigError("the NATS bus needs nats-py: pip install 'wattguard[nats]'") from None
        try:
            credentials: dict[str, Any] = {}
            if nkey_seed is not None:
                credentials["nkeys_seed"] = str(nkey_seed)
            connection = await nats.connect(
                url, name=name, connect_timeout=2, max_reconnect_attempts=2,
                allow_reconnect=True, error_cb=_log_error, **credentials,
            )  # fmt: skip
        except Exception as exc:
            raise ConfigError(f"cannot reach NATS at {url}: {exc}") from exc
        return cls(connection)

    def publish(self, subject: str, payload: bytes) -> None:
        if "*" in subject or ">" in subject:
            raise ConfigError(f"publish to a concrete subject, not the pattern {subject!r}")
        _check(subject)
        self.published += 1
        self._queue.put_nowait((subject, payload))

    def subscribe(self, pattern: str, handler: Handler) -> Callable[[], None]:
        _check(pattern)

        async def deliver(message: Any) -> None:
            try:
                handler(message.subject, message.data)
            except Exception:
                log.exception("bus handler for %s failed on %s", pattern, message.subject)

        loop = asyncio.get_running_loop()
        pending = loop.create_task(self._nc.subscribe(pattern, cb=deliver))
        cancelled = False

        def unsubscribe() -> None:
            nonlocal cancelled
            cancelled = True
            if pending.done() and not pending.cancelled() and pending.exception() is None:
                self._background(loop.create_task(pending.result().unsubscribe()))

        def added(task: asyncio.Task[Any]) -> None:
            if task.cancelled() or task.exception() is not None:
                log.error("NATS subscription to %s failed: %s", pattern, task)
            elif cancelled:
                self._background(loop.create_task(task.result().unsubscribe()))

        pending.add_done_callback(added)
        self._subscriptions.append(pending)
        return unsubscribe

    def _background(self, task: asyncio.Task[Any]) -> None:
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def ready(self) -> None:
        """Wait until every subscription is registered with the server and the queue sent."""
        await asyncio.gather(*self._subscriptions, return_exceptions=True)
        await self._nc.flush()
        while not self._queue.empty():
            await asyncio.sleep(0.01)
        await self._nc.flush()

    async def close(self) -> None:
        await self._queue.put(None)
        with contextlib.suppress(asyncio.CancelledError):
            await self._writer
        await self._nc.drain()

    async def _write(self) -> None:
        while (item := await self._queue.get()) is not None:
            subject, payload = item
            try:
                await self._nc.publish(subject, payload)
            except Exception as exc:  # the connection is gone: the 698 layer will resend
                log.warning("NATS publish to %s failed: %s", subject, exc)
