"""A seeded mutation fuzzer, and a corpus of real traffic for it to mutate.

Theory of operation. :class:`Mutator` draws from :class:`random.Random` seeded by the
scenario, so every run sends the same inputs and a failure can be replayed. It mutates real
bytes, not random ones: a parser refuses random bytes at its first check, so random input
tests only that check. The corpus (:func:`traffic`) is what a small protected deployment
actually sends: the terminal's reads on the power line, the meters' MAC-protected answers,
the terminal's logins, heartbeats and reports towards the FEP, the station's answers, and a
few commands wrapped by the cryptographic device.

* :meth:`Mutator.mutate` applies one to four of: flip a bit, set a byte to a boundary value
  (00, 01, 7F, 80, FF), insert or delete a few bytes, duplicate or drop a slice, truncate,
  splice with another corpus item, set a two-byte field to a large length;
* :meth:`Mutator.frame` mutates a frame's APDU and re-frames it with correct L, HCS and FCS
  (so the input reaches the APDU decoder and the server behind it, past the checksums),
  or, one time in four, mutates the raw frame (so the framing checks are exercised too).

What counts as a failure is the scenario's to say: an exception that is not the documented
refusal, a component that stops answering, or a change of state that input alone should not
cause.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, replace

from wattguard.attacks.scenarios.common import T0
from wattguard.attacks.scenarios.rigs import CA
from wattguard.cipher import CryptoDevice
from wattguard.errors import DecodeError
from wattguard.esam.profile import MasterKeys
from wattguard.network.hplc import Direction
from wattguard.protocol import OAD, OMD, Data, DataType, decode_frame
from wattguard.protocol.apdu.action import ActionRequest
from wattguard.protocol.apdu.get import GetRequestNormal
from wattguard.protocol.apdu.security import Protection
from wattguard.protocol.apdu.set import SetRequestNormal
from wattguard.randomness import generator, seeded

__all__ = ["Mutator", "Traffic", "traffic"]

_BOUNDARY = (0x00, 0x01, 0x7F, 0x80, 0xFF)


class Mutator:
    """The seeded mutator of real traffic (see the module docstring): a seed gives the same
    mutations every run, so a failure can be replayed."""

    def __init__(self, seed: int, corpus: list[bytes] | None = None) -> None:
        self.random = generator(seed)
        self.corpus = corpus or []

    def mutate(self, data: bytes) -> bytes:
        out = bytearray(data)
        for _ in range(self.random.randint(1, 4)):
            self._once(out)
        return bytes(out)

    def frame(self, frame: bytes) -> bytes:
        """A mutation of ``frame``: its APDU re-framed with good checksums (3 in 4), or the
        raw bytes."""
        if self.random.random() < 0.25:
            return self.mutate(frame)
        decoded = decode_frame(frame)
        apdu = self.mutate(decoded.apdu)[:2000]
        try:
            return replace(decoded, apdu=apdu).to_bytes()
        except ValueError:
            return self.mutate(frame)

    def choice(self, items: list[bytes]) -> bytes:
        return items[self.random.randrange(len(items))]

    def _once(self, out: bytearray) -> None:
        r = self.random
        size = len(out)
        op = r.randrange(9)
        at = r.randrange(size) if size else 0
        if op == 0 and size:
            out[at] ^= 1 << r.randrange(8)
        elif op == 1 and size:
            out[at] = r.choice(_BOUNDARY)
        elif op == 2:
            out[at:at] = bytes(r.randrange(256) for _ in range(r.randint(1, 8)))
        elif op == 3 and size:
            del out[at : at + r.randint(1, 8)]
        elif op == 4 and size:
            piece = out[at : at + r.randint(1, 32)]
            out[at:at] = piece
        elif op == 5 and size:
            del out[r.randrange(size) :]
        elif op == 6 and self.corpus:
            other = self.choice(self.corpus)
            cut = r.randrange(len(other) + 1)
            out[at:] = other[cut:]
        elif op == 7 and size > 1:
            out[at : at + 2] = r.choice((b"\xff\xff", b"\x82\xff\xff", b"\x84\xff\xff\xff\xff"))
        elif size:
            out[at] = r.randrange(256)


@dataclass(frozen=True)
class Traffic:
    """Real frames of a protected deployment, by where they travel."""

    hplc_down: list[bytes]  # terminal to meter
    hplc_up: list[bytes]  # meter to terminal
    wan_up: list[bytes]  # terminal to FEP
    wan_down: list[bytes]  # station to terminal
    commands: list[bytes]  # APDUs of commands to a meter, wrapped and plain

    @property
    def apdus(self) -> list[bytes]:
        frames = self.hplc_down + self.hplc_up + self.wan_up + self.wan_down
        return [decode_frame(f).apdu for f in frames] + self.commands


@functools.cache
def traffic() -> Traffic:
    """The corpus: an hour and a half of a two-meter protected deployment, captured on the
    power line and on the bus behind the FEP (computed once per process)."""
    from wattguard.runtime.deployment import Deployment, DeploymentConfig, virtual_clock

    config = DeploymentConfig(meters=2, per_terminal=2, start=T0, seed=0)  # reproducible
    deployment = Deployment(config, virtual_clock(config))
    hplc: dict[Direction, list[bytes]] = {Direction.DOWN: [], Direction.UP: []}

    def capture(direction: Direction, address: bytes, data: bytes) -> list[bytes]:
        hplc[direction].append(data)
        return [data]

    wan: dict[str, list[bytes]] = {"up": [], "down": []}
    deployment.nets[0].channel.manipulate = capture
    deployment.bus.subscribe("up.*", lambda subject, data: wan["up"].append(data))
    deployment.bus.subscribe("down.*", lambda subject, data: wan["down"].append(data))
    deployment.run_virtual(5400)
    return Traffic(
        _distinct(hplc[Direction.DOWN]),
        _distinct(hplc[Direction.UP]),
        _distinct(wan["up"]),
        _distinct(wan["down"]),
        _commands(),
    )


def _distinct(frames: list[bytes]) -> list[bytes]:
    out = []
    for frame in dict.fromkeys(frames):
        try:
            decode_frame(frame)
        except DecodeError:
            continue  # a frame the channel split or joined: not a seed
        out.append(frame)
    return out[:40]


def _commands() -> list[bytes]:
    random = seeded(b"fuzz corpus")
    device = CryptoDevice([MasterKeys.generate(1, random)], ca_key=CA, random=random)
    meter = bytes.fromhex("000000000001")
    plain = [
        GetRequestNormal(1, OAD(0x0010, 2, 0)).to_bytes(),
        SetRequestNormal(2, OAD(0x4000, 2, 0), Data(DataType.NULL, None)).to_bytes(),
        ActionRequest(3, OMD(0x8000, 129, 0), Data(DataType.NULL, None)).to_bytes(),
    ]
    wrapped = [
        device.protect(meter, apdu, protection=protection).to_bytes()
        for apdu in plain
        for protection in (Protection.PLAINTEXT, Protection.CIPHERTEXT)
    ]
    return plain + wrapped
