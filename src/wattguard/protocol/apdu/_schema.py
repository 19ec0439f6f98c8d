"""How APDUs are described: each service is a frozen dataclass whose fields name their codec.

``@service(tag, choice)`` turns a class into a frozen dataclass, derives its wire schema from
the fields (in order) and registers it for :func:`wattguard.protocol.apdu.decode_apdu`. A codec
is any object with ``read(reader)`` and ``write(value) -> bytes``; the combinators below build
the standard's OPTIONAL, SEQUENCE OF, CHOICE and SEQUENCE from the primitive types.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any, ClassVar, Protocol, TypeVar, dataclass_transform

from wattguard.protocol import axdr
from wattguard.protocol.axdr import Reader, encode_length
from wattguard.protocol.data import RCSD, RSD, encode_data, read_data, visible_text, write_visible
from wattguard.protocol.values import COMDCB, OAD, OMD, TI, TSA, DateTime, DateTimeS

T = TypeVar("T")


class Codec(Protocol):
    """How one field travels: ``read(reader)`` takes its value off the wire, ``write(value)``
    gives its bytes."""

    def read(self, reader: Reader) -> Any: ...

    def write(self, value: Any) -> bytes: ...


class _Fn:
    """A codec from two functions. ``spec`` says what it is (``("u8",)``,
    ``("optional", inner)``, ``("record", cls)``...), for introspection by tests and tools."""

    __slots__ = ("read", "spec", "write")

    def __init__(
        self,
        read: Callable[[Reader], Any],
        write: Callable[[Any], bytes],
        spec: tuple[Any, ...] = ("custom",),
    ) -> None:
        self.read = read
        self.write = write
        self.spec = spec


def _class_codec(cls: Any) -> _Fn:
    return _Fn(cls.read, lambda value: value.to_bytes(), ("value", cls))


U8 = _Fn(lambda r: r.u8(), lambda v: bytes((v,)), ("u8",))
U16 = _Fn(lambda r: r.u16(), axdr.U16.pack, ("u16",))
U32 = _Fn(lambda r: r.u32(), axdr.U32.pack, ("u32",))
OCTETS = _Fn(lambda r: r.take(r.length()), lambda v: encode_length(len(v)) + v, ("octets",))
DATA = _Fn(read_data, encode_data, ("data",))
OAD_ = _class_codec(OAD)
OMD_ = _class_codec(OMD)
TSA_ = _class_codec(TSA)
TI_ = _class_codec(TI)
RSD_ = _Fn(lambda r: RSD.read(r), lambda v: v.to_bytes(), ("value", RSD))
RCSD_ = _class_codec(RCSD)
COMDCB_ = _class_codec(COMDCB)
DATE_TIME = _class_codec(DateTime)
DATE_TIME_S = _class_codec(DateTimeS)


def _read_bool(reader: Reader) -> bool:
    start = reader.pos
    value = reader.u8()
    if value > 1:
        raise reader.error(f"bool must be 0 or 1, not {value}", start)
    return value == 1


BOOL = _Fn(_read_bool, lambda v: b"\x01" if v else b"\x00", ("bool",))


def fixed(size: int) -> _Fn:
    """Exactly ``size`` bytes, no length (bit-string(SIZE(n)), visible-string(SIZE(n)))."""

    def write(value: bytes) -> bytes:
        if len(value) != size:
            raise ValueError(f"field takes exactly {size} bytes, not {len(value)}")
        return value

    return _Fn(lambda r: r.take(size), write, ("fixed", size))


def fixed_text(size: int) -> _Fn:
    """visible-string(SIZE(n)): exactly n printable ASCII characters, no length."""
    inner = fixed(size)

    def read(reader: Reader) -> str:
        start = reader.pos
        return visible_text(inner.read(reader), reader, start)

    return _Fn(read, lambda v: inner.write(write_visible(v)), ("fixed_text", size))


def enum_of(enum_cls: Any) -> _Fn:
    def read(reader: Reader) -> Any:
        start = reader.pos
        value = reader.u8()
        try:
            return enum_cls(value)
        except ValueError:
            raise reader.error(f"{value} is not a {enum_cls.__name__}", start) from None

    return _Fn(read, lambda v: bytes((int(v),)), ("enum", enum_cls))


def optional(codec: Codec) -> _Fn:
    def read(reader: Reader) -> Any:
        return codec.read(reader) if reader.optional() else None

    return _Fn(
        read, lambda v: b"\x00" if v is None else b"\x01" + codec.write(v), ("optional", codec)
    )


def sequence_of(codec: Codec) -> _Fn:
    def read(reader: Reader) -> tuple[Any, ...]:
        count = reader.length()
        if count > reader.remaining():
            raise reader.error(f"{count} elements cannot fit in {reader.remaining()} bytes")
        return tuple(codec.read(reader) for _ in range(count))

    return _Fn(
        read,
        lambda v: encode_length(len(v)) + b"".join(codec.write(i) for i in v),
        ("sequence_of", codec),
    )


def record(cls: Any) -> _Fn:
    """A nested SEQUENCE described by another ``@structure`` class."""
    return _Fn(cls.read, lambda v: v.to_bytes(), ("record", cls))


_MISSING: Any = dataclasses.MISSING


def f(codec: Codec, default: Any = _MISSING) -> Any:
    """Declare a field and its codec."""
    if default is _MISSING:
        return dataclasses.field(metadata={"codec": codec})
    return dataclasses.field(default=default, metadata={"codec": codec})


class Structure:
    """Base of every described type: encoding and decoding from the field schema."""

    __slots__ = ()

    _schema: ClassVar[tuple[tuple[str, Codec], ...]] = ()
    _prefix: ClassVar[bytes] = b""

    def to_bytes(self) -> bytes:
        return self._prefix + b"".join(
            codec.write(getattr(self, name)) for name, codec in self._schema
        )

    @classmethod
    def read(cls: type[T], reader: Reader) -> T:
        """Read the fields (the service tag and choice have been consumed already)."""
        values = [codec.read(reader) for _, codec in cls._schema]  # type: ignore[attr-defined]
        return cls(*values)


#: (service tag, choice or None) -> class, filled by @service.
REGISTRY: dict[tuple[int, int | None], type[Structure]] = {}
#: service tags whose APDUs carry a choice byte after the tag.
TAGS_WITH_CHOICE: set[int] = set()


@dataclass_transform(frozen_default=True, field_specifiers=(f,))
def structure(cls: type[T]) -> type[T]:
    """Make ``cls`` a frozen dataclass whose fields give its wire schema."""
    made = dataclasses.dataclass(frozen=True, slots=True)(cls)
    made._schema = tuple(  # type: ignore[attr-defined]
        (field.name, field.metadata["codec"])
        for field in dataclasses.fields(made)  # type: ignore[arg-type]
    )
    return made


@dataclass_transform(frozen_default=True, field_specifiers=(f,))
def service(tag: int, choice: int | None = None) -> Callable[[type[T]], type[T]]:
    """Like :func:`structure`, and register the class as APDU ``tag``/``choice``."""

    def wrap(cls: type[T]) -> type[T]:
        made = structure(cls)
        made._prefix = bytes((tag,) if choice is None else (tag, choice))  # type: ignore[attr-defined]
        if (tag, choice) in REGISTRY:
            raise RuntimeError(f"APDU {tag}/{choice} registered twice")
        REGISTRY[(tag, choice)] = made  # type: ignore[assignment]
        if choice is not None:
            TAGS_WITH_CHOICE.add(tag)
        return made

    return wrap
