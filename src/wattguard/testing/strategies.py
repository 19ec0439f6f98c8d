"""Hypothesis strategies for DL/T 698.45: every Data type (:data:`BY_TYPE`, :data:`data_values`),
the fixed-shape values, link frames (:func:`link_frames`) and every registered APDU service
(:data:`SERVICES`, :func:`structure_strategy`), each built from the service's declaration.

For tests only: this module imports Hypothesis.
"""

from __future__ import annotations

from typing import Any

from hypothesis import strategies as st

from wattguard.protocol import (
    COMDCB,
    CSD,
    MS,
    OAD,
    OMD,
    RCSD,
    ROAD,
    RSD,
    SID,
    SIDMAC,
    TI,
    TSA,
    AddressType,
    BitString,
    Control,
    Data,
    DataType,
    Date,
    DateTime,
    DateTimeS,
    FunctionCode,
    LinkFrame,
    Region,
    ScalerUnit,
    ServerAddress,
    Time,
)
from wattguard.protocol.apdu._schema import REGISTRY
from wattguard.protocol.apdu.common import AResultNormal, AResultRecord, FollowReport
from wattguard.protocol.apdu.connect import ConnectMechanism, Mechanism
from wattguard.protocol.apdu.get import GetResponseNext
from wattguard.protocol.apdu.security import (
    Protection,
    SecurityPayload,
    Verification,
    VerificationKind,
)
from wattguard.protocol.data import MSChoice

u8 = st.integers(0, 0xFF)
u16 = st.integers(0, 0xFFFF)
u32 = st.integers(0, 0xFFFFFFFF)
short_bytes = st.binary(max_size=40)

oads = st.builds(OAD, u16, st.integers(0, 31), u8, st.integers(0, 7))
omds = st.builds(OMD, u16, u8, u8)
roads = st.builds(ROAD, oads, st.lists(oads, max_size=4).map(tuple))
tsas = st.builds(TSA, st.binary(min_size=1, max_size=16), st.integers(0, 3))
date_times = st.builds(DateTime, u16, u8, u8, u8, u8, u8, u8, u16)
date_time_ss = st.builds(DateTimeS, u16, u8, u8, u8, u8, u8)
tis = st.builds(TI, st.integers(0, 5), u16)
bit_strings = st.lists(st.booleans(), max_size=70).map(BitString.from_flags)
csds = st.one_of(oads, roads).map(CSD)
rcsds = st.lists(csds, max_size=4).map(lambda items: RCSD(tuple(items)))
sids = st.builds(SID, u32, short_bytes)
visible_text = st.text(st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=20)
comdcbs = st.builds(
    COMDCB,
    st.sampled_from([*range(11), 255]),
    st.integers(0, 2),
    st.integers(5, 8),
    st.integers(1, 2),
    st.integers(0, 2),
)


def _typed(kind: DataType, values: st.SearchStrategy[object]) -> st.SearchStrategy[Data]:
    return values.map(lambda v: Data(kind, v))


#: One strategy per data type (the nested ones are added below).
BY_TYPE: dict[DataType, st.SearchStrategy[Data]] = {
    DataType.NULL: st.just(Data(DataType.NULL)),
    DataType.BOOL: _typed(DataType.BOOL, st.booleans()),
    DataType.BIT_STRING: _typed(DataType.BIT_STRING, bit_strings),
    DataType.DOUBLE_LONG: _typed(DataType.DOUBLE_LONG, st.integers(-(2**31), 2**31 - 1)),
    DataType.DOUBLE_LONG_UNSIGNED: _typed(DataType.DOUBLE_LONG_UNSIGNED, u32),
    DataType.OCTET_STRING: _typed(DataType.OCTET_STRING, short_bytes),
    DataType.VISIBLE_STRING: _typed(DataType.VISIBLE_STRING, visible_text),
    DataType.UTF8_STRING: _typed(DataType.UTF8_STRING, st.text(max_size=20)),
    DataType.INTEGER: _typed(DataType.INTEGER, st.integers(-128, 127)),
    DataType.LONG: _typed(DataType.LONG, st.integers(-(2**15), 2**15 - 1)),
    DataType.UNSIGNED: _typed(DataType.UNSIGNED, u8),
    DataType.LONG_UNSIGNED: _typed(DataType.LONG_UNSIGNED, u16),
    DataType.LONG64: _typed(DataType.LONG64, st.integers(-(2**63), 2**63 - 1)),
    DataType.LONG64_UNSIGNED: _typed(DataType.LONG64_UNSIGNED, st.integers(0, 2**64 - 1)),
    DataType.ENUM: _typed(DataType.ENUM, u8),
    DataType.FLOAT32: _typed(DataType.FLOAT32, st.floats(width=32, allow_nan=False)),
    DataType.FLOAT64: _typed(DataType.FLOAT64, st.floats(allow_nan=False)),
    DataType.DATE_TIME: _typed(DataType.DATE_TIME, date_times),
    DataType.DATE: _typed(DataType.DATE, st.builds(Date, u16, u8, u8, u8)),
    DataType.TIME: _typed(DataType.TIME, st.builds(Time, u8, u8, u8)),
    DataType.DATE_TIME_S: _typed(DataType.DATE_TIME_S, date_time_ss),
    DataType.OI: _typed(DataType.OI, u16),
    DataType.OAD: _typed(DataType.OAD, oads),
    DataType.ROAD: _typed(DataType.ROAD, roads),
    DataType.OMD: _typed(DataType.OMD, omds),
    DataType.TI: _typed(DataType.TI, tis),
    DataType.TSA: _typed(DataType.TSA, tsas),
    DataType.MAC: _typed(DataType.MAC, short_bytes),
    DataType.RN: _typed(DataType.RN, short_bytes),
    DataType.SCALER_UNIT: _typed(
        DataType.SCALER_UNIT, st.builds(ScalerUnit, st.integers(-128, 127), u8)
    ),
    DataType.CSD: _typed(DataType.CSD, csds),
    DataType.SID: _typed(DataType.SID, sids),
    DataType.SID_MAC: _typed(DataType.SID_MAC, st.builds(SIDMAC, sids, short_bytes)),
    DataType.COMDCB: _typed(DataType.COMDCB, comdcbs),
    DataType.RCSD: _typed(DataType.RCSD, rcsds),
}
scalar_data = st.one_of(*BY_TYPE.values())

regions = st.builds(Region, st.integers(0, 3), scalar_data, scalar_data)


def _regions(bound: st.SearchStrategy[Data]) -> st.SearchStrategy[Region]:
    return st.builds(Region, st.integers(0, 3), bound, bound)


def _ms() -> st.SearchStrategy[MS]:
    return st.one_of(
        st.sampled_from([MS(MSChoice.NO_METER), MS(MSChoice.ALL_METERS)]),
        st.lists(u8, max_size=4).map(lambda v: MS(MSChoice.USER_TYPES, tuple(v))),
        st.lists(tsas, max_size=3).map(lambda v: MS(MSChoice.ADDRESSES, tuple(v))),
        st.lists(u16, max_size=4).map(lambda v: MS(MSChoice.SERIAL_NUMBERS, tuple(v))),
        st.lists(_regions(BY_TYPE[DataType.UNSIGNED]), max_size=2).map(
            lambda v: MS(MSChoice.USER_TYPE_REGIONS, tuple(v))
        ),
        st.lists(_regions(BY_TYPE[DataType.TSA]), max_size=2).map(
            lambda v: MS(MSChoice.ADDRESS_REGIONS, tuple(v))
        ),
        st.lists(_regions(BY_TYPE[DataType.LONG_UNSIGNED]), max_size=2).map(
            lambda v: MS(MSChoice.SERIAL_REGIONS, tuple(v))
        ),
    )


meter_sets = _ms()
selector2 = st.builds(lambda *f: RSD(2, f), oads, scalar_data, scalar_data, scalar_data)
rsds = st.one_of(
    st.just(RSD(0)),
    st.builds(lambda *f: RSD(1, f), oads, scalar_data),
    selector2,
    st.lists(selector2, max_size=2).map(lambda v: RSD(3, (tuple(v),))),
    st.builds(lambda s, a, b: RSD(s, (a, b)), st.sampled_from([4, 5]), date_time_ss, meter_sets),
    st.builds(
        lambda s, *f: RSD(s, f),
        st.sampled_from([6, 7, 8]),
        date_time_ss,
        date_time_ss,
        tis,
        meter_sets,
    ),
    st.builds(lambda n: RSD(9, (n,)), u8),
    st.builds(lambda n, m: RSD(10, (n, m)), u8, meter_sets),
)

BY_TYPE[DataType.REGION] = _typed(DataType.REGION, regions)
BY_TYPE[DataType.MS] = _typed(DataType.MS, meter_sets)
BY_TYPE[DataType.RSD] = _typed(DataType.RSD, rsds)
BY_TYPE[DataType.ARRAY] = _typed(DataType.ARRAY, st.lists(scalar_data, max_size=4).map(tuple))
BY_TYPE[DataType.STRUCTURE] = _typed(
    DataType.STRUCTURE, st.lists(scalar_data, max_size=4).map(tuple)
)

data_values = st.recursive(
    st.one_of(*BY_TYPE.values()),
    lambda children: st.one_of(
        st.lists(children, max_size=4).map(lambda v: Data(DataType.ARRAY, tuple(v))),
        st.lists(children, max_size=4).map(lambda v: Data(DataType.STRUCTURE, tuple(v))),
    ),
    max_leaves=12,
)

server_addresses = st.one_of(
    st.builds(
        ServerAddress,
        st.binary(min_size=1, max_size=15),
        st.sampled_from([AddressType.SINGLE, AddressType.WILDCARD, AddressType.GROUP]),
        st.integers(0, 1),
        st.one_of(st.none(), st.integers(2, 255)),
    ),
    st.builds(
        ServerAddress,
        st.just(b"\xaa"),
        st.just(AddressType.BROADCAST),
        st.integers(0, 1),
    ),
)

#: Control bytes of unfragmented frames (the fragment bit needs a fragment word).
unfragmented_controls = st.builds(
    Control,
    st.booleans(),
    st.booleans(),
    st.sampled_from(list(FunctionCode)),
    st.just(False),
    st.booleans(),
)


def link_frames(max_apdu: int) -> st.SearchStrategy[LinkFrame]:
    """Unfragmented link frames with any address and an APDU field of up to ``max_apdu`` bytes."""
    return st.builds(
        LinkFrame, unfragmented_controls, server_addresses, u8, st.binary(max_size=max_apdu)
    )


# Every APDU service, from its declaration

small_data = st.one_of(
    scalar_data,
    st.lists(scalar_data, max_size=3).map(lambda v: Data(DataType.STRUCTURE, tuple(v))),
)
VALUES: dict[type, st.SearchStrategy[Any]] = {
    OAD: oads,
    OMD: omds,
    TSA: tsas,
    TI: tis,
    RSD: rsds,
    RCSD: rcsds,
    COMDCB: comdcbs,
    DateTime: date_times,
    DateTimeS: date_time_ss,
    Verification: st.one_of(
        st.builds(
            lambda s, m: Verification(VerificationKind.SID_MAC, sid=s, mac=m),
            sids,
            st.binary(max_size=8),
        ),
        st.builds(lambda r: Verification(VerificationKind.RN, random=r), st.binary(max_size=16)),
        st.builds(
            lambda r, m: Verification(VerificationKind.RN_MAC, random=r, mac=m),
            st.binary(max_size=16),
            st.binary(max_size=8),
        ),
        st.builds(lambda s: Verification(VerificationKind.SID, sid=s), sids),
    ),
}


def _rows(columns: RCSD) -> st.SearchStrategy[Any]:
    width = len(columns.columns)
    if not width:
        return st.one_of(st.just(()), u8)
    row = st.lists(small_data, min_size=width, max_size=width).map(tuple)
    return st.one_of(st.lists(row, max_size=3).map(tuple), u8)


a_result_records = rcsds.flatmap(
    lambda columns: st.builds(AResultRecord, oads, st.just(columns), _rows(columns))
)


def strategy(codec: Any, strict: bool = False) -> st.SearchStrategy[Any]:
    """A strategy for the values a codec accepts, built from its spec. ``strict`` keeps to
    what the standard means as well as what it spells: no empty lists, for one."""
    kind, *args = codec.spec
    simple = {
        "piid": u8.map(lambda v: v & 0xBF),
        "link_result": st.tuples(st.booleans(), st.integers(0, 2)).map(lambda v: v[0] << 7 | v[1]),
        "u8": u8,
        "u16": u16,
        "u32": u32,
        "bool": st.booleans(),
        "dar": u8,
        "octets": st.binary(max_size=40),
        "mac": st.binary(max_size=40),
        "data": small_data,
    }
    if kind in simple:
        return simple[kind]
    if kind == "fixed":
        return st.binary(min_size=args[0], max_size=args[0])
    if kind == "fixed_text":
        return st.text(
            st.characters(min_codepoint=32, max_codepoint=126), min_size=args[0], max_size=args[0]
        )
    if kind == "enum":
        return st.sampled_from(list(args[0]))
    if kind == "optional":
        return st.one_of(st.none(), strategy(args[0], strict))
    if kind == "sequence_of":
        return st.lists(strategy(args[0], strict), min_size=strict, max_size=3).map(tuple)
    if kind == "dar_or":
        return st.one_of(u8, strategy(args[0], strict))
    if kind == "value":
        return VALUES[args[0]]
    if kind == "record":
        return structure_strategy(args[0], strict)
    if kind == "next_answer":
        return st.one_of(
            u8,
            st.lists(structure_strategy(AResultNormal), min_size=1, max_size=2).map(tuple),
            st.lists(a_result_records, min_size=1, max_size=2).map(tuple),
        )
    if kind == "request_payload":
        return st.builds(SecurityPayload, st.sampled_from(list(Protection)), st.binary(max_size=60))
    if kind == "response_payload":
        return st.one_of(
            st.builds(SecurityPayload, st.sampled_from(list(Protection)), st.binary(max_size=60)),
            u8.map(lambda dar: SecurityPayload(Protection.PLAINTEXT, dar=dar)),
        )
    raise AssertionError(f"no strategy for codec {codec.spec}")


#: Where meaning narrows a field beyond its type (used with strict=True).
STRICT_FIELDS: dict[str, st.SearchStrategy[Any]] = {
    "timeout": st.integers(1, 0xFFFF),  # a proxy timeout of 0 seconds means nothing
    "ReleaseResponse.result": st.just(0),  # the only RELEASE result is success
    "GetResponseMD5.answer": st.one_of(u8, st.binary(min_size=16, max_size=16)),
}


def structure_strategy(cls: Any, strict: bool = False) -> st.SearchStrategy[Any]:
    """A strategy for instances of the APDU structure ``cls``; ``strict`` as in
    :func:`strategy`."""
    if cls is AResultRecord:
        return a_result_records
    if cls is FollowReport:
        return st.one_of(
            st.lists(structure_strategy(AResultNormal), min_size=1, max_size=2),
            st.lists(a_result_records, min_size=1, max_size=2),
        ).map(lambda results: FollowReport(tuple(results)))
    if cls is ConnectMechanism:
        return st.one_of(
            st.just(ConnectMechanism()),
            visible_text.map(lambda p: ConnectMechanism(Mechanism.PASSWORD, password=p)),
            st.builds(
                lambda m, c, s: ConnectMechanism(m, ciphertext=c, signature=s),
                st.sampled_from([Mechanism.SYMMETRIC, Mechanism.SIGNATURE]),
                st.binary(max_size=40),
                st.binary(max_size=64),
            ),
        )
    if cls is GetResponseNext and strict:  # a DAR ends the blocks: it is the last one
        return structure_strategy(cls).filter(
            lambda apdu: apdu.last_block or isinstance(apdu.answer, tuple)
        )
    fields = []
    for name, codec in cls._schema:
        override = STRICT_FIELDS.get(f"{cls.__name__}.{name}", STRICT_FIELDS.get(name))
        fields.append(override if strict and override is not None else strategy(codec, strict))
    return st.builds(cls, *fields)


#: Every registered APDU service, as ((tag, choice), class), in tag order.
SERVICES = sorted(REGISTRY.items(), key=lambda item: (item[0][0], item[0][1] or 0))
