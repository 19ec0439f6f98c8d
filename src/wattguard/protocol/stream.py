"""An incremental decoder for a byte stream of DL/T 698.45 frames (serial port, HPLC, TCP).

Theory of operation: bytes are appended to a buffer. ``next_frame`` looks for 0x68, skipping
FE wake-up bytes and any other garbage. Once the header is in, it checks the length against
the limit and the HCS, and once the whole frame is in, the FCS and the closing 0x16. Whatever
fails, the decoder drops that one 0x68 byte and hunts for the next, so a corrupt or truncated
frame costs only itself. Every drop is recorded in ``errors`` (a DecodeError with the stream
offset) for the security monitor; ``discarded`` counts the bytes thrown away. The buffer never
holds more than one frame's worth (the limit) of bytes that cannot yet be judged. A frame cut
short looks, until the next bytes arrive, like one still arriving: the I/O layer calls
``line_idle`` after an inter-byte timeout to give up on it.
"""

from __future__ import annotations

from collections import deque

from wattguard.errors import DecodeError
from wattguard.protocol.crc import crc16
from wattguard.protocol.link import START, LinkFrame, frame_length, parse_frame

__all__ = ["DEFAULT_MAX_FRAME", "FrameDecoder"]

#: Default largest frame accepted, in bytes on the wire (68 to 16).
DEFAULT_MAX_FRAME = 4096
_MIN_HEADER = 1 + 2 + 1 + 1  # enough to read L and AF
_MAX_ERRORS = 64


class FrameDecoder:
    """``receive_data(bytes)`` then ``next_frame()`` until it returns None."""

    def __init__(self, max_frame_size: int = DEFAULT_MAX_FRAME) -> None:
        if max_frame_size < 16:
            raise ValueError("max_frame_size must allow at least a minimal frame")
        self.max_frame_size = max_frame_size
        self._buffer = bytearray()
        self._consumed = 0  # stream offset of _buffer[0]
        self.discarded = 0
        self.errors: deque[DecodeError] = deque(maxlen=_MAX_ERRORS)

    def receive_data(self, data: bytes) -> None:
        self._buffer += data

    def _drop(self, count: int, error: DecodeError | None = None) -> None:
        del self._buffer[:count]
        self._consumed += count
        self.discarded += count
        if error is not None:
            self.errors.append(DecodeError(error.reason, offset=self._consumed - count))

    def next_frame(self) -> LinkFrame | None:
        buffer = self._buffer
        while True:
            start = buffer.find(START)
            if start < 0:
                if buffer:
                    self._drop(len(buffer))
                return None
            if start:
                self._drop(start)
            if len(buffer) < _MIN_HEADER:
                return None
            try:
                length = frame_length(buffer, 0)
            except DecodeError as exc:
                self._drop(1, exc)
                continue
            total = length + 2
            header = _MIN_HEADER + (buffer[4] & 0x0F) + 1 + 1 + 2  # + SA + CA + HCS
            if total > self.max_frame_size or total < header + 2 + 1:
                self._drop(1, DecodeError(f"frame length {total} outside limits"))
                continue
            if len(buffer) < total:
                # Check the header as soon as it is complete, so garbage that merely looks
                # like a long frame does not stall the stream until the limit is reached.
                if len(buffer) >= header and not _header_ok(buffer, header):
                    self._drop(1, DecodeError("bad header check sequence (HCS)"))
                    continue
                return None
            try:
                frame = parse_frame(bytes(buffer[:total]))
            except DecodeError as exc:
                self._drop(1, exc)
                continue
            del buffer[:total]
            self._consumed += total
            return frame

    def line_idle(self) -> list[LinkFrame]:
        """The line went quiet with a partial frame pending (an inter-byte timeout): that
        frame will never complete, so drop its start and hunt again in what followed it."""
        frames = []
        while self._buffer:
            self._drop(1, DecodeError("incomplete frame abandoned after the line went idle"))
            frames.extend(self.frames())
        return frames

    def frames(self) -> list[LinkFrame]:
        """All complete frames now in the buffer."""
        out = []
        while (frame := self.next_frame()) is not None:
            out.append(frame)
        return out


def _header_ok(buffer: bytearray, header: int) -> bool:
    return crc16(bytes(buffer[1 : header - 2])) == buffer[header - 2] | (buffer[header - 1] << 8)
