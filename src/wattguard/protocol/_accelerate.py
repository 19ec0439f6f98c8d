"""Switch on the compiled fast path of the decoder, when it was built.

``_accel`` (C, ``_accel.c``) decodes well-formed frames and APDUs into the very objects the
Python decoder builds, and answers ``None`` for anything it declines: malformed input, rare
features (scrambled frames, frames counted in kilobytes, an address not yet cached), a codec it
has no opcode for at a point where the input needs one (fragmented frames are decoded: a report
gathering many meters' records is always several fragments). ``decode_frame`` and
``decode_apdu`` then run the Python decoder, which stays the reference and the only source of
errors. The fast path only
ever has to be at least as strict; tests/protocol/test_accel.py holds the two equal.

The APDU side runs a program compiled here from each service's schema: nested tuples, opcode
first. Codecs are recognised by identity (or, for combinators, by the closure that built
them), never by their ``spec`` label alone; anything else becomes an ``OP_PYTHON`` call of the
codec's own reader, so a new codec is always decoded correctly, if not fast. Two hand-written
readers have programs of their own because a curve is made of them: RCSD (a record's columns)
and the calendar types of Data (each row's freeze time), whose classes and structs are checked
here before the compiled reader is given them.

CRC-16/X-25 is in the module too (``crc16``): :func:`wattguard.protocol.crc.crc16` calls it
when it is in use, so encoding a frame costs no Python per byte either.

The same module compiles the glue of one security step the station runs for every answer it
verifies, :func:`wattguard.esam.profile.open_answer` (the MAC input, the 4-byte comparison,
CBC's XOR and the unpadding around `cryptography`'s SM4 and SM3 calls); ``OPEN_ANSWER`` is
that function when in use, else None and the Python function runs.

Set ``WATTGUARD_PURE_PYTHON=1`` to run without it. ``ACTIVE`` says whether it is in use.
"""

from __future__ import annotations

import dataclasses
import enum
import functools
import os
import struct
from collections.abc import Callable
from typing import Any

from wattguard.protocol import apdu as apdu_package
from wattguard.protocol import crc as crc_module
from wattguard.protocol import data as data_module
from wattguard.protocol import link
from wattguard.protocol import values as values_module
from wattguard.protocol.apdu import _schema, common, security
from wattguard.protocol.axdr import Reader
from wattguard.protocol.data import MAX_DEPTH, Data, DataType, read_data
from wattguard.protocol.values import OAD, SID

__all__ = ["ACTIVE", "OPEN_ANSWER", "REASON", "compile_codec"]

OP_U8 = 1
OP_U16 = 2
OP_U32 = 3
OP_PIID = 4
OP_BOOL = 5
OP_OCTETS = 6
OP_FIXED = 7
OP_DATA = 8
OP_OAD = 9
OP_OPTIONAL = 10
OP_SEQUENCE = 11
OP_RECORD = 12
OP_TABLE = 13
OP_DAR_OR = 14
OP_PYTHON = 15
OP_MAC = 16
OP_PAYLOAD = 17
OP_VERIFICATION = 18
OP_RESULT_RECORD = 19
OP_RCSD = 20

Node = tuple[Any, ...]


def _setters(cls: type) -> tuple[Any, ...] | None:
    """The member descriptors of a slotted dataclass's fields in order, or None when the
    class must be built through its constructor (validation in ``__post_init__``)."""
    if not dataclasses.is_dataclass(cls) or hasattr(cls, "__post_init__"):
        return None
    descriptors = []
    for field in dataclasses.fields(cls):
        descriptor = cls.__dict__.get(field.name)
        if type(descriptor).__name__ != "member_descriptor" or not field.init:
            return None
        descriptors.append(descriptor)
    return tuple(descriptors)


def _dar_table() -> tuple[Any, ...]:
    out: list[Any] = []
    for value in range(256):
        try:
            out.append(common.DAR(value))
        except ValueError:
            out.append(value)  # a code the table does not name: kept, as the Python reader does
    return tuple(out)


_DAR_TABLE = _dar_table()
#: Codecs with an opcode of their own, by identity.
_PRIMITIVES: dict[int, Node] = {
    id(_schema.U8): (OP_U8,),
    id(_schema.U16): (OP_U16,),
    id(_schema.U32): (OP_U32,),
    id(_schema.OCTETS): (OP_OCTETS,),
    id(_schema.BOOL): (OP_BOOL,),
    id(_schema.DATA): (OP_DATA,),
    id(_schema.OAD_): (OP_OAD,),
    id(common.PIID): (OP_PIID,),
    id(common.DAR_): (OP_TABLE, _DAR_TABLE),
    id(security.MAC_): (OP_MAC,),
}


def _enum_table(enum_cls: type[enum.IntEnum]) -> tuple[Any, ...]:
    members = {int(member): member for member in enum_cls}
    return tuple(members.get(value) for value in range(256))


def _combinator(codec: Any) -> str:
    """The combinator that built a codec, from its reader's qualified name (``optional``...)."""
    qualname = getattr(codec.read, "__qualname__", "")
    return str(qualname.split(".<locals>", 1)[0]) if ".<locals>" in qualname else ""


_GENERIC_READ = _schema.Structure.__dict__["read"].__func__


@functools.cache  # a record (TimeTag, FollowReport...) recurs in many services: one program
def _record(cls: Any) -> Node:
    if cls is common.AResultRecord and _result_record_shape():
        # a curve's rows: hand-written in Python, the bulk of what the station decodes
        return (OP_RESULT_RECORD, cls, _setters(cls), _record(data_module.RCSD), _DAR_TABLE)
    if cls is data_module.RCSD:
        rcsd = _rcsd()
        if rcsd is not None:
            return rcsd
    if getattr(cls.read, "__func__", None) is not _GENERIC_READ:
        return (OP_PYTHON, cls.read)  # a hand-written reader
    fields = tuple(compile_codec(codec) for _, codec in cls._schema)
    if len(fields) > 16:
        return (OP_PYTHON, cls.read)
    return (OP_RECORD, cls, _setters(cls), fields)


def _result_record_shape() -> bool:
    """Whether A-ResultRecord and RCSD still have the fields the compiled reader fills and reads
    (else A-ResultRecord's Python reader runs)."""
    names = [field.name for field in dataclasses.fields(common.AResultRecord)]
    rcsd = [field.name for field in dataclasses.fields(data_module.RCSD)]
    return names == ["oad", "columns", "result"] and rcsd == ["columns"]


def _rcsd() -> Node | None:
    """The program of an RCSD (the columns of every record read and answer), or None when RCSD
    or CSD changed shape and their Python readers must run."""
    rcsd, csd, road = data_module.RCSD, data_module.CSD, values_module.ROAD
    setters = _setters(rcsd), _setters(csd), _setters(road)
    if None in setters or [field.name for field in dataclasses.fields(road)] != ["oad", "columns"]:
        return None
    return (OP_RCSD, rcsd, setters[0], csd, setters[1], road, setters[2])


def _verification() -> Node | None:
    """The program of a SECURITY-Request's verification (what the station reads of every
    protected request it verifies an answer against), or None when its classes changed shape
    and its Python reader must run."""
    kinds = security.VerificationKind
    cls = security.Verification
    setters, sid_setters = _setters(cls), _setters(SID)
    if (
        {int(kind): kind.name for kind in kinds} != {0: "SID_MAC", 1: "RN", 2: "RN_MAC", 3: "SID"}
        or setters is None
        or sid_setters is None
        or [field.name for field in dataclasses.fields(cls)] != ["kind", "sid", "random", "mac"]
        or [field.name for field in dataclasses.fields(SID)] != ["ident", "additional"]
    ):
        return None
    return (OP_VERIFICATION, cls, setters, _enum_table(kinds), SID, sid_setters, b"")


def compile_codec(codec: Any) -> Node:
    """The decoder program of one codec."""
    known = _PRIMITIVES.get(id(codec))
    if known is not None:
        return known
    spec: tuple[Any, ...] = getattr(codec, "spec", ("custom",))
    kind = spec[0]
    combinator = _combinator(codec)
    if codec is security.REQUEST_PAYLOAD or codec is security.RESPONSE_PAYLOAD:
        cls = security.SecurityPayload
        setters = _setters(cls)
        if setters is not None:
            protections = (security.Protection.PLAINTEXT, security.Protection.CIPHERTEXT)
            allow_dar = codec is security.RESPONSE_PAYLOAD
            return (OP_PAYLOAD, cls, setters, protections, allow_dar, protections[0])
    elif codec is security.VERIFICATION:
        program = _verification()
        if program is not None:
            return program
    elif codec.read is read_data:
        return (OP_DATA,)
    elif kind == "optional" and combinator == "optional":
        return (OP_OPTIONAL, compile_codec(spec[1]))
    elif kind == "sequence_of" and combinator == "sequence_of":
        return (OP_SEQUENCE, compile_codec(spec[1]))
    elif kind == "dar_or" and combinator == "dar_or":
        return (OP_DAR_OR, _DAR_TABLE, compile_codec(spec[1]))
    elif kind == "fixed" and combinator == "fixed":
        return (OP_FIXED, spec[1])
    elif kind == "enum" and combinator == "enum_of":
        return (OP_TABLE, _enum_table(spec[1]))
    elif kind == "record" and codec.read == spec[1].read:
        return _record(spec[1])
    return (OP_PYTHON, codec.read)


def _services() -> tuple[tuple[Any, ...], tuple[Any, ...]]:
    single: list[Any] = [None] * 256
    choices: list[Any] = [None] * 256
    registry: dict[tuple[int, int | None], Any] = dict(_schema.REGISTRY)
    for (tag, choice), cls in registry.items():
        program = _record(cls)
        if choice is None:
            single[tag] = program
        else:
            if choices[tag] is None:
                choices[tag] = [None] * 256
            choices[tag][choice] = program
    return tuple(single), tuple(None if c is None else tuple(c) for c in choices)


#: The calendar types whose values the compiled reader makes itself: each class's Python reader
#: is ``cls(*layout.unpack(reader.take(layout.size)))`` with the struct named here.
_CALENDARS = {
    DataType.DATE_TIME: (values_module.DateTime, values_module._DATE_TIME),
    DataType.DATE: (values_module.Date, values_module._DATE),
    DataType.TIME: (values_module.Time, values_module._TIME),
    DataType.DATE_TIME_S: (values_module.DateTimeS, values_module._DATE_TIME_S),
}


def _calendar(cls: type, layout: struct.Struct) -> tuple[Any, ...] | None:
    """(cls, setters, one byte per field: its size) for the compiled reader, or None when the
    class or its struct is not one big-endian unsigned 8- or 16-bit number per field."""
    setters = _setters(cls)
    fmt = layout.format
    if setters is None or not fmt.startswith(">") or len(fmt) - 1 != len(setters):
        return None
    sizes = {"B": 1, "H": 2}
    if not set(fmt[1:]) <= sizes.keys():
        return None
    return (cls, setters, bytes(sizes[code] for code in fmt[1:]))


def _data_tables() -> tuple[tuple[Any, ...], tuple[Any, ...]]:
    tags: list[Any] = [None] * 256
    readers: list[Any] = [None] * 256
    for value, (member, read) in data_module._READERS.items():
        tags[value] = member
        calendar = _CALENDARS.get(member)
        readers[value] = (calendar and _calendar(*calendar)) or read
    return tuple(tags), tuple(readers)


def _configure() -> tuple[bool, str]:
    if os.environ.get("WATTGUARD_PURE_PYTHON"):
        return False, "WATTGUARD_PURE_PYTHON is set"
    try:
        from wattguard.protocol import _accel
    except ImportError as exc:
        return (
            False,
            f"the compiled decoder was not built ({exc}); pip install -e . with a C compiler",
        )
    if not hasattr(_accel, "crc16") or getattr(_accel, "LAST_OP", 0) < OP_RCSD:
        # built from an older source: its tables or opcodes differ
        return (
            False,
            "the compiled decoder was built from an older source; rebuild it: pip install -e .",
        )
    setters, fragment_setters = _setters(link.LinkFrame), _setters(link.Fragment)
    kinds = tuple(link.FragmentKind(value) for value in range(4))
    if (
        setters is None
        or fragment_setters is None
        or not (issubclass(Data, tuple) and issubclass(OAD, tuple))
    ):
        return False, "LinkFrame, Fragment, Data or OAD changed shape; the compiled decoder is off"
    tags, readers = _data_tables()
    single, choices = _services()
    _accel.configure(
        controls=tuple(link._CONTROLS.get(value) for value in range(256)),
        addresses=link._ADDRESSES,
        frame_type=link.LinkFrame,
        frame_setters=setters,
        data_type=Data,
        oad_type=OAD,
        data_tags=tags,
        data_readers=readers,
        reader_type=Reader,
        single=single,
        choices=choices,
        max_depth=MAX_DEPTH,
        fragment_type=link.Fragment,
        fragment_setters=fragment_setters,
        fragment_kinds=kinds,
    )
    link._fast_frame = _accel.decode_frame
    crc_module._fast_crc = _accel.crc16
    apdu_package._fast_apdu = _accel.decode_apdu
    data_module._fast_data = _accel.decode_data
    return True, "compiled decoder in use"


ACTIVE, REASON = _configure()
#: The compiled :func:`wattguard.esam.profile.open_answer` glue (see the module docstring).
OPEN_ANSWER: Callable[..., bytes | None] | None = None
if ACTIVE:
    from wattguard.protocol import _accel

    OPEN_ANSWER = _accel.open_answer
