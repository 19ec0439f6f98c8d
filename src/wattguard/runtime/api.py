"""The station's REST API and dashboard served on the running asyncio loop (uvicorn).

Used by ``wattguard demo`` and ``wattguard station``: :func:`start_api` binds the port itself
first, so a port in use is a clear :class:`~wattguard.errors.ConfigError` saying what to do,
not a traceback from inside uvicorn; the server then runs as a task on the caller's loop, next
to the station it serves (no threads, no shared state across them).
"""

from __future__ import annotations

import asyncio
import socket
from typing import Any

from wattguard.errors import ConfigError
from wattguard.station import Station

__all__ = ["MAX_CONNECTIONS", "RunningApi", "start_api"]

#: Connections the API serves at once; more are answered 503 (uvicorn's limit_concurrency).
MAX_CONNECTIONS = 256


class RunningApi:
    """The station's API server running on the loop, as :func:`start_api` started it: ``port`` is
    the port it bound (the free one picked for 0); :meth:`stop` shuts it down."""

    def __init__(self, server: Any, task: asyncio.Task[None], port: int) -> None:
        self.server = server
        self.task = task
        self.port = port

    async def stop(self) -> None:
        self.server.should_exit = True
        await asyncio.gather(self.task, return_exceptions=True)


async def start_api(
    station: Station, port: int, host: str = "127.0.0.1", *, guard: bool = True
) -> RunningApi:
    """Serve ``station``'s API and dashboard on ``host:port`` (0: any free port); ``guard=False``
    only for measuring the API without its request guard (``bench/api_flood.py``)."""
    import uvicorn

    from wattguard.station.api import create_app

    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        listener.bind((host, port))
    except OSError as exc:
        listener.close()
        raise ConfigError(
            f"the API cannot listen on {host}:{port} ({exc.strerror}): choose another port "
            "with --api-port (0 picks a free one)"
        ) from None
    config = uvicorn.Config(
        create_app(station, guard=guard), log_level="warning", lifespan="off",
        limit_concurrency=MAX_CONNECTIONS,
    )  # fmt: skip
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve(sockets=[listener]))
    while not server.started and not task.done():
        await asyncio.sleep(0.05)
    if task.done():
        listener.close()
        raise ConfigError(f"the API did not start on {host}:{port}")
    bound = int(server.servers[0].sockets[0].getsockname()[1])
    return RunningApi(server, task, bound)
