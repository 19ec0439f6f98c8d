"""Link-layer fragmentation (DL/T 698.45-2017 clause 6.1.3.4): an APDU too long for one frame
travels as numbered fragments (start, middle..., last), each acknowledged by the receiver
with an empty frame carrying the same number.

Theory of operation: :func:`split_apdu` cuts an APDU into fragment words and pieces.
:class:`Reassembler` takes the pieces in order: a START opens (numbered 0), each MIDDLE and
the LAST must carry the next number, and the LAST returns the whole APDU. A piece repeated
with the previous number (its acknowledgement was lost) is accepted again without being
appended twice. Anything else is the peer breaking the protocol: the transfer is abandoned and
RemoteProtocolError raised. Sizes are bounded.
"""

from __future__ import annotations

from wattguard.errors import ConfigError, RemoteProtocolError
from wattguard.protocol.link import Fragment, FragmentKind

__all__ = ["Reassembler", "acknowledgement", "split_apdu"]

MAX_FRAGMENTS = 4096  # the fragment number has 12 bits


def split_apdu(apdu: bytes, piece_size: int) -> list[tuple[Fragment, bytes]]:
    """Cut ``apdu`` into pieces of at most ``piece_size`` bytes, with their fragment words."""
    if piece_size < 1:
        raise ConfigError("a fragment must carry at least one byte")
    pieces = [apdu[i : i + piece_size] for i in range(0, len(apdu), piece_size)] or [b""]
    if len(pieces) > MAX_FRAGMENTS:
        raise ConfigError(f"{len(apdu)} bytes need more than {MAX_FRAGMENTS} fragments")
    out = []
    for number, piece in enumerate(pieces):
        if number == len(pieces) - 1 and number:
            kind = FragmentKind.LAST
        elif number == 0:
            kind = FragmentKind.START if len(pieces) > 1 else FragmentKind.LAST
        else:
            kind = FragmentKind.MIDDLE
        out.append((Fragment(number, kind), piece))
    return out


def acknowledgement(fragment: Fragment) -> Fragment:
    """The fragment word that acknowledges ``fragment``."""
    return Fragment(fragment.number, FragmentKind.ACKNOWLEDGE)


class Reassembler:
    """Collects the pieces of one fragmented APDU at a time."""

    def __init__(self, max_size: int = 64 * 1024) -> None:
        self.max_size = max_size
        self._pieces: list[bytes] | None = None
        self._size = 0

    @property
    def in_progress(self) -> bool:
        return self._pieces is not None

    def abandon(self) -> None:
        self._pieces = None
        self._size = 0

    def receive(self, fragment: Fragment, piece: bytes) -> bytes | None:
        """Take one piece; return the whole APDU when the last piece arrives."""
        kind, number = fragment.kind, fragment.number
        if kind == FragmentKind.ACKNOWLEDGE:
            raise RemoteProtocolError("an acknowledgement is not a piece of data")
        if kind == FragmentKind.START or (kind == FragmentKind.LAST and number == 0):
            if number != 0:
                self.abandon()
                raise RemoteProtocolError(f"a first fragment must be numbered 0, not {number}")
            self._pieces, self._size = [], 0
        elif self._pieces is None:
            raise RemoteProtocolError(f"fragment {number} arrived with no transfer open")
        elif number == len(self._pieces) - 1 and piece == self._pieces[-1]:
            return None  # a repeat of the previous piece: its acknowledgement was lost
        elif number != len(self._pieces):
            expected = len(self._pieces)
            self.abandon()
            raise RemoteProtocolError(f"fragment {number} arrived where {expected} was due")
        assert self._pieces is not None
        self._size += len(piece)
        if self._size > self.max_size:
            self.abandon()
            raise RemoteProtocolError(f"fragmented APDU exceeds {self.max_size} bytes")
        self._pieces.append(piece)
        if kind == FragmentKind.LAST:
            whole = b"".join(self._pieces)
            self.abandon()
            return whole
        return None
