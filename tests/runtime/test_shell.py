"""The one asyncio shell: it feeds a core what the socket reads, runs its timer (in the core's
seconds, paced), writes what it has to send, and tells it when the peer hangs up."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from wattguard.runtime.shell import CoreShell


@dataclass(frozen=True, slots=True)
class Received:
    data: bytes
    now: float


@dataclass(frozen=True, slots=True)
class Fired:
    now: float


@dataclass
class Echo:
    """A small core: echoes what it receives, and fires one timer at ``alarm``."""

    alarm: float | None = None
    events: list[Received | Fired] = field(default_factory=list)
    _out: bytearray = field(default_factory=bytearray)
    _queue: list[Received | Fired] = field(default_factory=list)

    def receive_data(self, data: bytes, now: float) -> None:
        self._out += data
        self._queue.append(Received(data, now))

    def next_event(self) -> Received | Fired | None:
        return self._queue.pop(0) if self._queue else None

    def data_to_send(self) -> bytes:
        out = bytes(self._out)
        self._out.clear()
        return out

    def get_timer(self) -> float | None:
        return self.alarm

    def handle_timer(self, now: float) -> None:
        if self.alarm is not None and now >= self.alarm:
            self.alarm = None
            self._queue.append(Fired(now))


async def _pair(
    core: Echo, *, speed: float = 1.0, clock_speed: float = 1.0
) -> tuple[
    CoreShell[Received | Fired], asyncio.StreamReader, asyncio.StreamWriter, asyncio.Task[None]
]:
    loop = asyncio.get_running_loop()
    origin = loop.time()
    accepted: asyncio.Future[CoreShell[Received | Fired]] = loop.create_future()

    def now() -> float:
        return (loop.time() - origin) * clock_speed

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        shell = CoreShell[Received | Fired](
            core, reader, writer, now=now, on_event=core.events.append, speed=speed
        )
        accepted.set_result(shell)
        await shell.run()

    server = await asyncio.start_server(serve, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    shell = await asyncio.wait_for(accepted, 5)
    task = asyncio.ensure_future(server.serve_forever())
    return shell, reader, writer, task


def test_bytes_in_bytes_out_and_the_end_of_the_stream() -> None:
    async def main() -> list[Received | Fired]:
        core = Echo()
        _, reader, writer, task = await _pair(core)
        writer.write(b"hello")
        assert await asyncio.wait_for(reader.readexactly(5), 5) == b"hello"
        writer.close()
        for _ in range(100):
            if core.events and core.events[-1] == Received(b"", core.events[-1].now):
                break
            await asyncio.sleep(0.02)
        task.cancel()
        return core.events

    events = asyncio.run(main())
    assert [e.data for e in events if isinstance(e, Received)] == [b"hello", b""]


def test_a_paced_timer_is_waited_for_in_real_seconds() -> None:
    """At 60x, a timer 60 simulated seconds away fires after about one real second (the
    shell divides by the speed); without the speed it would wait a minute."""

    async def main() -> tuple[list[Received | Fired], float]:
        core = Echo(alarm=60.0)
        _, _, writer, task = await _pair(core, speed=60.0, clock_speed=60.0)
        loop = asyncio.get_running_loop()
        began = loop.time()
        while not any(isinstance(e, Fired) for e in core.events) and loop.time() - began < 5:
            await asyncio.sleep(0.05)
        elapsed = loop.time() - began
        writer.close()
        task.cancel()
        return core.events, elapsed

    events, elapsed = asyncio.run(main())
    fired = [e for e in events if isinstance(e, Fired)]
    assert len(fired) == 1 and fired[0].now >= 60.0
    assert elapsed < 3.0


def test_wake_writes_what_was_fed_from_outside() -> None:
    async def main() -> bytes:
        core = Echo()
        shell, reader, writer, task = await _pair(core)
        core._out += b"from the bus"
        shell.wake()
        data = await asyncio.wait_for(reader.readexactly(12), 5)
        writer.close()
        task.cancel()
        return data

    assert asyncio.run(main()) == b"from the bus"
