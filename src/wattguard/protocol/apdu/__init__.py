"""DL/T 698.45 application protocol data units.

``decode_apdu(data)`` returns the typed service object; every service class has
``to_bytes()``. Services are registered by their tag (and choice) in ``_schema.REGISTRY``.
"""

from __future__ import annotations

from collections.abc import Callable

from wattguard.errors import DecodeError
from wattguard.protocol.apdu import action, connect, error, get, proxy, report, security
from wattguard.protocol.apdu import set as set_
from wattguard.protocol.apdu._schema import REGISTRY, TAGS_WITH_CHOICE, Structure
from wattguard.protocol.axdr import Reader

__all__ = ["Structure", "decode_apdu"]

_modules = (action, connect, error, get, proxy, report, security, set_)

#: The compiled decoder's APDU function when it is in use (set by
#: ``wattguard.protocol._accelerate``): the APDU of well-formed input, or None, and the Python
#: decoder below decides (and explains any refusal).
_fast_apdu: Callable[[bytes], Structure | None] | None = None


def decode_apdu(data: bytes, offset: int = 0) -> Structure:
    """Decode one whole APDU; trailing bytes, unknown services and malformed fields raise
    :class:`~wattguard.errors.DecodeError` with the offset (``offset`` is added, so errors
    point into the frame the APDU came from)."""
    if _fast_apdu is not None and type(data) is bytes:
        apdu = _fast_apdu(data)
        if apdu is not None:
            return apdu
    return decode_apdu_python(data, offset)


def decode_apdu_python(data: bytes, offset: int = 0) -> Structure:
    """:func:`decode_apdu` without the compiled fast path: the reference decoder."""
    reader = Reader(data if type(data) is bytes else bytes(data), base=offset)
    tag = reader.u8()
    choice = reader.u8() if tag in TAGS_WITH_CHOICE else None
    cls = REGISTRY.get((tag, choice))
    if cls is None:
        what = f"service {tag}" if choice is None else f"service {tag} choice {choice}"
        raise DecodeError(f"unknown APDU {what}", offset=offset)
    try:
        apdu = cls.read(reader)
    except (ValueError, IndexError) as exc:  # a value a field's type cannot hold
        raise reader.error(f"malformed {cls.__name__}: {exc}") from None
    reader.finish()
    return apdu
