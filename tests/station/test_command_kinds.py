"""The table of command kinds on its own: each kind's argument checked at issue time with what
is wrong, each kind's approval rule applied by the command book, and the requests built as the
meter's objects take them."""

from __future__ import annotations

import pytest

from wattguard.protocol import OAD, Data, DataType
from wattguard.protocol.apdu.action import ActionRequest
from wattguard.protocol.apdu.set import SetRequestNormal, SetRequestNormalList
from wattguard.station.command_kinds import (
    KINDS,
    BadArgument,
    MeterContext,
    approval_reason,
    describe,
    parse,
)
from wattguard.station.commands import (
    CommandBook,
    CommandKind,
    CommandRefused,
    CommandState,
    Role,
    User,
)
from wattguard.testing import T0

OPERATOR = User("otto", Role.OPERATOR)
SUPERVISOR = User("sun", Role.SUPERVISOR)
METER = bytes.fromhex("000001000001")


def book() -> CommandBook:
    return CommandBook(kind_rule=approval_reason)


def meters(n: int) -> tuple[str, ...]:
    return tuple(f"{i:012d}" for i in range(1, n + 1))


def test_every_kind_is_described_and_its_described_argument_is_checked() -> None:
    described = {k["kind"]: k for k in describe()}
    assert len(described) == len(KINDS) == 15
    assert described["time sync"]["argument"] == {"type": "none"}
    assert parse(CommandKind.TIME_SYNC, "") is None
    assert parse(CommandKind.TOP_UP, " 5000 ") == 5000
    assert parse(CommandKind.DEMAND_PERIOD, "15") == (15, None)
    with pytest.raises(BadArgument, match="no argument"):
        parse(CommandKind.TIME_SYNC, "2027-01-01")
    with pytest.raises(BadArgument, match="whole number"):
        parse(CommandKind.TOP_UP, "\uff15\uff10")  # full-width digits are not ASCII digits
    assert parse(CommandKind.DISPLAY_ALARM, "credit low") == "credit low"
    assert parse(CommandKind.DISPLAY_ALARM, "") == ""  # the ALARM annunciator alone
    with pytest.raises(BadArgument, match="at most 16"):
        parse(CommandKind.DISPLAY_ALARM, "credit very low now")
    with pytest.raises(BadArgument, match="printable ASCII"):
        parse(CommandKind.DISPLAY_ALARM, "\u4f59\u989d\u4e0d\u8db3")  # not a visible-string


def test_a_parameter_write_to_many_meters_waits_for_a_second_person() -> None:
    b = book()
    few = b.issue(OPERATOR, CommandKind.PILE_LIMIT, meters(10), T0, "7000")
    many = b.issue(OPERATOR, CommandKind.PILE_LIMIT, meters(11), T0, "7000")
    assert few.state == CommandState.APPROVED
    assert many.state == CommandState.AWAITING_APPROVAL and "11 meters" in many.reason
    with pytest.raises(CommandRefused, match="supervisor"):
        b.issue(OPERATOR, CommandKind.DISPLAY, meters(1), T0, '{"objects": ["00100200"]}')


def test_amount_rules_hold_large_top_ups_and_refunds() -> None:
    b = book()
    assert b.issue(OPERATOR, CommandKind.TOP_UP, meters(1), T0, "100000").state.name == "APPROVED"
    held = b.issue(OPERATOR, CommandKind.TOP_UP, meters(1), T0, "100001")
    assert held.state == CommandState.AWAITING_APPROVAL and "100001 fen" in held.reason
    refund = b.issue(OPERATOR, CommandKind.REFUND, meters(1), T0, "10001")
    assert refund.state == CommandState.AWAITING_APPROVAL
    tariff = '{"periods": [["00:00", 1]], "switch_at": "2027-01-01T00:00Z"}'
    always = b.issue(SUPERVISOR, CommandKind.TARIFF, meters(1), T0, tariff)
    assert always.state == CommandState.AWAITING_APPROVAL


def test_the_requests_carry_what_the_meter_takes() -> None:
    context = MeterContext(T0)
    limit = KINDS[CommandKind.PILE_LIMIT].request(7000, METER, context)
    assert limit == SetRequestNormal(1, OAD(0xFF10, 2), Data(DataType.DOUBLE_LONG_UNSIGNED, 7000))
    value = parse(CommandKind.CREDIT_LEVELS, '{"alarm1": 2000, "alarm2": 500, "hoarding": 9000}')
    levels = KINDS[CommandKind.CREDIT_LEVELS].request(value, METER, context)
    assert isinstance(levels, SetRequestNormalList)
    assert [item.oad for item in levels.items] == [OAD(0x401E, 2), OAD(0x401F, 2)]
    assert [v.value for v in levels.items[1].data.value] == [0, 9000, 0]
    sync = KINDS[CommandKind.TIME_SYNC].request(None, METER, context)
    assert isinstance(sync, SetRequestNormal) and sync.data.value.to_posix() == T0
    with pytest.raises(CommandRefused, match="cryptographic device"):
        KINDS[CommandKind.TOP_UP].request(5000, METER, context)  # no device: no wallet parameter
    made: list[tuple[bytes, int, bool]] = []

    def wallet(meter: bytes, amount: int, refund: bool) -> Data:
        made.append((meter, amount, refund))
        return Data(DataType.NULL)

    refund = KINDS[CommandKind.REFUND].request(300, METER, MeterContext(T0, wallet))
    assert isinstance(refund, ActionRequest) and refund.omd.oi == 0xF100 and refund.omd.method == 6
    assert made == [(METER, 300, True)]
