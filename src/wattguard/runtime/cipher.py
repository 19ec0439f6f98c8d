"""The cryptographic device as its own service, reachable only by the station.

Theory of operation. :class:`CipherServer` listens on TCP; every connection must complete the
WAN secure channel (:mod:`wattguard.network.wan`) as a *station* holding a certificate from
the utility's CA (anyone else is refused by the handshake and recorded), then sends requests,
each answered in order. :class:`CipherClient` is the station's end: it offers the same calls as
an in-process :class:`~wattguard.cipher.CryptoDevice` (``register``, ``protect``,
``open_response``, ``open_responses`` (a report's answers in one round trip), ``open_report``,
``top_up``, the key and certificate updates, ``witness``, ``witnessed``), so the station uses
either.

Messages inside the channel are a 4-byte big-endian length and a JSON object: ``{"op": ...,
"meter": hex, ...}`` with byte strings in hex; answers ``{"ok": ...}`` or ``{"error": kind,
"detail": ...}`` where kind ``security`` becomes a :class:`~wattguard.errors.SecurityError`
at the station (a forged reading) and anything else a :class:`~wattguard.errors.ConfigError`.

Both ends speak through a :class:`~wattguard.network.channel.MessageChannel`, the sans-IO
core that frames those messages over the channel core. The server drives it with the one
:class:`~wattguard.runtime.shell.CoreShell` and answers each message in ``on_event``: the
JSON dispatch to the device is application logic, like a 698 server's request handler, with
no state of the connection's own. The client is synchronous (a blocking socket feeds the same
core): the station's ingestion is synchronous, and on loopback a call costs a fraction of a
millisecond. A lost connection is reopened on the next call.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import socket
import time
from collections.abc import Callable, Sequence
from typing import Any

from wattguard.cipher import CryptoDevice
from wattguard.errors import ConfigError, DecodeError, SecurityError
from wattguard.esam.certificate import Certificate
from wattguard.events import EventSink
from wattguard.network.channel import (
    MAX_MESSAGE,
    ChannelClosed,
    ChannelCore,
    ChannelUp,
    Message,
    MessageChannel,
    MessageEvent,
)
from wattguard.protocol import Data
from wattguard.protocol.apdu import decode_apdu
from wattguard.protocol.apdu.security import (
    Protection,
    SecurityRequest,
    SecurityResponse,
    VerificationKind,
)
from wattguard.protocol.axdr import Reader
from wattguard.protocol.data import encode_data, read_data
from wattguard.runtime.shell import CoreShell

__all__ = ["CipherClient", "CipherServer"]

log = logging.getLogger(__name__)


_READ_SIZE = 65536
#: Hex characters of answers per ``open_responses`` call (a report larger than that goes in a
#: few calls): a quarter of the channel's message limit, with room for JSON's quotes.
_BATCH_BYTES = MAX_MESSAGE // 4


class CipherServer:
    """The cryptographic device's service: answers the station's calls on ``device``, each
    connection through a channel core made by ``channel`` (see the module docstring)."""

    def __init__(self, device: CryptoDevice, channel: Callable[[], ChannelCore]) -> None:
        self.device = device
        self.channel = channel
        self.calls = 0
        self._server: asyncio.Server | None = None

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> int:
        """Listen; return the port (useful with ``port=0``)."""
        self._server = await asyncio.start_server(self._serve, host, port)
        return int(self._server.sockets[0].getsockname()[1])

    async def close(self) -> None:
        """Stop listening."""
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        core = MessageChannel(self.channel())

        def on_event(event: MessageEvent) -> None:
            if isinstance(event, Message):
                core.send(self._answer(event.data))
            elif isinstance(event, ChannelClosed):
                log.info("cipher: connection refused or closed: %s", event.reason)
                shell.stop()

        loop = asyncio.get_running_loop()
        shell = CoreShell[MessageEvent](
            core, reader, writer, now=loop.time, on_event=on_event, read_size=_READ_SIZE
        )
        await shell.run()

    def _answer(self, raw: bytes) -> bytes:
        self.calls += 1
        try:
            call = json.loads(raw)
            result = self._call(call)
            return json.dumps({"ok": result}).encode()
        except SecurityError as exc:
            return json.dumps({"error": "security", "detail": str(exc)}).encode()
        except (ValueError, KeyError, TypeError, DecodeError, ConfigError) as exc:
            return json.dumps({"error": "request", "detail": str(exc)}).encode()

    def _call(self, call: dict[str, Any]) -> Any:
        op, meter = call["op"], bytes.fromhex(call["meter"])
        device = self.device
        if op == "register":
            device.register(meter)
            return None
        if op == "protect":
            request = device.protect(
                meter,
                bytes.fromhex(call["apdu"]),
                protection=Protection(call["protection"]),
                verification=VerificationKind(call["verification"]),
                operator=str(call.get("operator", "")),
            )
            return request.to_bytes().hex()
        if op == "open_response":
            wrapped = decode_apdu(bytes.fromhex(call["request"])) if call["request"] else None
            response = decode_apdu(bytes.fromhex(call["response"]))
            if not isinstance(response, SecurityResponse) or not (
                wrapped is None or isinstance(wrapped, SecurityRequest)
            ):
                raise ValueError("open_response takes a SECURITY-Request and -Response")
            return device.open_response(meter, wrapped, response).hex()
        if op == "open_responses":
            exchanges = []
            for address, request, answer in call["exchanges"]:
                wrapped = decode_apdu(bytes.fromhex(request)) if request else None
                response = decode_apdu(bytes.fromhex(answer))
                if not isinstance(response, SecurityResponse) or not (
                    wrapped is None or isinstance(wrapped, SecurityRequest)
                ):
                    raise ValueError("open_responses takes SECURITY-Requests and -Responses")
                exchanges.append((bytes.fromhex(address), wrapped, response))
            return [
                {"error": "security", "detail": str(inner)}
                if isinstance(inner, SecurityError)
                else inner.hex()
                for inner in device.open_responses(exchanges)
            ]
        if op == "open_report":
            report = decode_apdu(bytes.fromhex(call["report"]))
            if not isinstance(report, SecurityRequest):
                raise ValueError("open_report takes a SECURITY-Request")
            return device.open_report(meter, report).hex()
        if op == "top_up":
            parameter = device.top_up(
                meter, int(call["amount"]), str(call.get("operator", "")),
                refund=bool(call.get("refund", False)),
            )  # fmt: skip
            return encode_data(parameter).hex()
        if op == "key_update":
            parameter = device.key_update(
                meter, int(call["version"]), str(call.get("operator", ""))
            )
            return encode_data(parameter).hex()
        if op == "key_updated":
            device.key_updated(meter, int(call["version"]))
            return None
        if op == "key_version":
            return device.key_version(meter)
        if op == "newest_key_version":
            return device.newest_key_version()
        if op == "certificate_update":
            certificate = Certificate.from_bytes(bytes.fromhex(call["certificate"]))
            parameter = device.certificate_update(meter, certificate, str(call.get("operator", "")))
            return encode_data(parameter).hex()
        if op == "witness":
            device.witness(str(call["label"]), int(call["sequence"]), bytes.fromhex(call["head"]))
            return None
        if op == "witnessed":
            found = device.witnessed(str(call["label"]))
            return None if found is None else [found[0], found[1].hex()]
        raise ValueError(f"unknown operation {op!r}")


class CipherClient:
    """The station's end of the cryptographic device service (see the module docstring)."""

    def __init__(
        self, host: str, port: int, channel: Callable[[], ChannelCore], timeout: float = 10.0
    ) -> None:
        self.host, self.port = host, port
        self.channel_factory = channel
        self.timeout = timeout
        self.events: EventSink | None = None  # the station sets it; the device keeps its own
        self.verified = 0
        self.refused = 0
        self._socket: socket.socket | None = None
        self._core: MessageChannel | None = None

    def close(self) -> None:
        """Close the connection (the next call opens a new one)."""
        if self._socket is not None:
            with contextlib.suppress(OSError):
                self._socket.close()
        self._socket = self._core = None

    # the calls

    def register(self, address: bytes) -> None:
        """Register a meter (its keys are derived from the master keys)."""
        self._call({"op": "register", "meter": address.hex()})

    def protect(
        self,
        address: bytes,
        apdu: bytes,
        *,
        protection: Protection = Protection.CIPHERTEXT,
        verification: VerificationKind = VerificationKind.SID_MAC,
        operator: str = "",
    ) -> SecurityRequest:
        raw = self._call({
            "op": "protect", "meter": address.hex(), "apdu": apdu.hex(),
            "protection": int(protection), "verification": int(verification),
            "operator": operator,
        })  # fmt: skip
        request = decode_apdu(bytes.fromhex(raw))
        if not isinstance(request, SecurityRequest):
            raise ConfigError("the cryptographic device answered something else")
        return request

    def open_response(
        self, meter: bytes, request: SecurityRequest | None, response: SecurityResponse
    ) -> bytes:
        try:
            raw = self._call({
                "op": "open_response", "meter": meter.hex(),
                "request": "" if request is None else request.to_bytes().hex(),
                "response": response.to_bytes().hex(),
            })  # fmt: skip
        except SecurityError:
            self.refused += 1
            raise
        self.verified += 1
        return bytes.fromhex(raw)

    def open_responses(
        self, exchanges: Sequence[tuple[bytes, SecurityRequest | None, SecurityResponse]]
    ) -> list[bytes | SecurityError]:
        """:meth:`open_response` of each of many answers in one round trip."""
        calls: list[list[list[str]]] = [[]]
        size = 0
        for meter, request, response in exchanges:
            one = [meter.hex(), "" if request is None else request.to_bytes().hex(),
                   response.to_bytes().hex()]  # fmt: skip
            size += sum(map(len, one)) + 16
            if size > _BATCH_BYTES and calls[-1]:  # well inside the channel's message limit
                calls.append([])
                size = sum(map(len, one)) + 16
            calls[-1].append(one)
        out: list[bytes | SecurityError] = []
        for batch in calls if exchanges else ():
            found = self._call({"op": "open_responses", "meter": "", "exchanges": batch})
            if not isinstance(found, list) or len(found) != len(batch):
                raise ConfigError("the cryptographic device answered another number of answers")
            for inner in found:
                if isinstance(inner, str):
                    out.append(bytes.fromhex(inner))
                else:  # {"error": "security", "detail": ...}
                    out.append(SecurityError(str(inner.get("detail", "refused"))))
        refused = sum(1 for inner in out if isinstance(inner, SecurityError))
        self.refused += refused
        self.verified += len(out) - refused
        return out

    def open_report(self, meter: bytes, report: SecurityRequest) -> bytes:
        try:
            raw = self._call(
                {"op": "open_report", "meter": meter.hex(), "report": report.to_bytes().hex()}
            )
        except SecurityError:
            self.refused += 1
            raise
        self.verified += 1
        return bytes.fromhex(raw)

    def top_up(
        self, address: bytes, amount: int, operator: str = "", *, refund: bool = False
    ) -> Data:
        """F100 method 6's parameter for a top-up (or refund) of ``amount`` fen, made by the
        device under the meter's wallet key."""
        call = {"op": "top_up", "meter": address.hex(), "amount": amount, "operator": operator,
                "refund": refund}  # fmt: skip
        return read_data(Reader(bytes.fromhex(self._call(call))))

    def key_update(self, address: bytes, new_version: int, operator: str = "") -> Data:
        """F100 method 7's parameter: the meter's keys of ``new_version``, wrapped by the
        device (which also keeps the old version until :meth:`key_updated`)."""
        call = {"op": "key_update", "meter": address.hex(), "version": new_version,
                "operator": operator}  # fmt: skip
        return read_data(Reader(bytes.fromhex(self._call(call))))

    def key_updated(self, address: bytes, version: int) -> None:
        """The meter confirmed its key update: the device uses ``version`` from now on."""
        self._call({"op": "key_updated", "meter": address.hex(), "version": version})

    def key_version(self, address: bytes) -> int:
        """The key version the device uses for ``address``."""
        return int(self._call({"op": "key_version", "meter": address.hex()}))

    def newest_key_version(self) -> int:
        """The newest master key version the device holds."""
        return int(self._call({"op": "newest_key_version", "meter": ""}))

    def certificate_update(
        self, address: bytes, certificate: Certificate, operator: str = ""
    ) -> Data:
        """F100 method 8's parameter for ``certificate``, made by the device."""
        call = {"op": "certificate_update", "meter": address.hex(),
                "certificate": certificate.to_bytes().hex(), "operator": operator}  # fmt: skip
        return read_data(Reader(bytes.fromhex(self._call(call))))

    def witness(self, label: str, sequence: int, head: bytes) -> None:
        self._call({
            "op": "witness", "meter": "", "label": label, "sequence": sequence, "head": head.hex()
        })  # fmt: skip

    def witnessed(self, label: str) -> tuple[int, bytes] | None:
        found = self._call({"op": "witnessed", "meter": "", "label": label})
        return None if found is None else (int(found[0]), bytes.fromhex(found[1]))

    # the wire

    def _call(self, call: dict[str, Any]) -> Any:
        for attempt in (1, 2):
            try:
                core, sock = self._connected()
                core.send(json.dumps(call).encode())
                sock.sendall(core.data_to_send())
                answer = json.loads(self._receive(core, sock))
                break
            except OSError as exc:
                self.close()
                if attempt == 2:
                    raise ConfigError(
                        f"the cryptographic device at {self.host}:{self.port} does not answer: "
                        f"{exc}"
                    ) from None
        if "ok" in answer:
            return answer["ok"]
        if answer.get("error") == "security":
            raise SecurityError(answer.get("detail", "refused by the cryptographic device"))
        raise ConfigError(f"the cryptographic device refused the call: {answer.get('detail')}")

    def _connected(self) -> tuple[MessageChannel, socket.socket]:
        if self._core is not None and self._socket is not None:
            return self._core, self._socket
        sock = socket.create_connection((self.host, self.port), timeout=self.timeout)
        core = MessageChannel(self.channel_factory())
        sock.sendall(core.data_to_send())
        while True:
            event = core.next_event()
            if isinstance(event, ChannelUp):
                break
            if isinstance(event, ChannelClosed):
                sock.close()
                raise ConfigError(f"the cryptographic device refused this station: {event.reason}")
            if event is None:
                _read(core, sock)
                out = core.data_to_send()
                if out:
                    sock.sendall(out)
        self._socket, self._core = sock, core
        return core, sock

    def _receive(self, core: MessageChannel, sock: socket.socket) -> bytes:
        while True:
            event = core.next_event()
            if isinstance(event, Message):
                return event.data
            if isinstance(event, ChannelClosed):
                raise ConnectionError(f"the channel closed: {event.reason}")
            if event is None:
                _read(core, sock)


def _read(core: MessageChannel, sock: socket.socket) -> None:
    """Feed ``core`` what the socket has (blocking); the device closing the connection is an
    error here, since a call is waiting for its answer."""
    data = sock.recv(_READ_SIZE)
    if not data:
        raise ConnectionError("the cryptographic device closed the connection")
    core.receive_data(data, time.monotonic())
