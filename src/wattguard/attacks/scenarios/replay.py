"""Scenario 2: replay of captured commands on the power line.

An adversary with a tap on the power line (a neighbour's socket is enough for HPLC) records
the utility's commands to one meter and sends them again later, unchanged. They need no key:

* ``replay-trip``: the remote trip of a customer in arrears, sent again after the utility
  restored the supply, cuts it again;
* ``replay-top-up``: a prepaid top-up, sent again, credits the wallet twice;
* ``replay-parameter-write``: the write that lifted the charging pile's power limit, sent again
  after the utility imposed a limit in a shortage, lifts it again.

Protected, every command travels as ciphertext + SID_MAC with the command counter the
cryptographic device advances, and the meter's ESAM accepts a counter only once (a top-up
carries the purchase count too); the meter answers DAR 22 and reports the replay, which the
station stores and alerts on. Unprotected, the command is the bare APDU and the meter obeys
it again. An unprotected meter has no ESAM, so its prepaid credit is a plain register that a
top-up credits by the amount it names (what a meter without a secure element keeps).
"""

from __future__ import annotations

from dataclasses import dataclass

from wattguard.attacks.harness import Outcome, Protection, scenario
from wattguard.attacks.scenarios.deployed import (
    StationView,
    Tap,
    UtilityCommand,
    apdu_of,
    fresh_deployment,
    hexed,
    meter_of,
    transmit,
    trip,
)
from wattguard.meter.device import Meter
from wattguard.meter.management.exposure import CHARGING_PILE_LIMIT
from wattguard.meter.management.model import refuse
from wattguard.protocol import OAD, OMD, SID, SIDMAC, Data, DataType
from wattguard.protocol.apdu import security
from wattguard.protocol.apdu.action import ActionRequest
from wattguard.protocol.apdu.common import DAR
from wattguard.protocol.apdu.security import SecurityRequest
from wattguard.protocol.apdu.set import SetRequestNormal
from wattguard.runtime.deployment import Deployment
from wattguard.station.commands import CommandKind

__all__ = ["PlainWallet", "commands_on_the_line"]

_TOP_UP = OMD(0xF100, 6, 0)
_WALLET_FILE = 0x202C


@dataclass
class PlainWallet:
    """The prepaid credit of a meter without a secure element: F100 method 6 credits the
    amount it names, and 202C attribute 2 reads {balance, purchase count}."""

    credit: int = 0
    top_ups: int = 0

    def fit(self, meter: Meter) -> None:
        meter.management.wallet = self
        meter.management.model.add_method(0xF100, 6, self._top_up)
        meter.management.model.add_attribute(
            _WALLET_FILE,
            2,
            lambda: Data.structure(
                Data(DataType.DOUBLE_LONG_UNSIGNED, self.credit),
                Data(DataType.DOUBLE_LONG_UNSIGNED, self.top_ups),
            ),
        )

    def _top_up(self, value: Data) -> None:
        if value.type != DataType.STRUCTURE or not value.value:
            raise refuse(DAR.TYPE_MISMATCH, "a top-up is a structure {amount, ...}")
        self.credit += int(value.value[0].value)
        self.top_ups += 1

    def balance(self) -> int:
        return self.credit

    def deduct(self, amount: int) -> int:
        self.credit = max(0, self.credit - amount)
        return self.credit


def commands_on_the_line(tap: Tap, meter: bytes) -> list[bytes]:
    """The frames to ``meter`` that are commands, as anyone on the line can tell them from
    reads: an ACTION or SET, or a protected request whose payload is ciphertext (the reads go
    plaintext + RN)."""
    out = []
    for frame in tap.down(meter):
        apdu = apdu_of(frame)
        if isinstance(apdu, SecurityRequest):
            if apdu.payload.protection == security.Protection.CIPHERTEXT:
                out.append(frame)
        elif isinstance(apdu, ActionRequest | SetRequestNormal):
            out.append(frame)
    return out


def _replayed(deployment: Deployment, tap: Tap, meter: bytes, frame: bytes) -> None:
    transmit(deployment, tap.net, meter, frame)
    deployment.run_virtual(900)  # the meter's report of the refusal reaches the station


@scenario(
    2,
    "replay-trip",
    "a captured remote trip, sent again on the power line, cuts the supply the utility restored",
    (Protection.IDENTITY, Protection.MONITORING),
)
def replay_trip(protected: bool) -> Outcome:
    deployment = fresh_deployment(protected)
    net, meter = meter_of(deployment)
    tap = Tap(net)
    tripped = trip(deployment, meter.address)
    captured = commands_on_the_line(tap, meter.address)
    trip(deployment, meter.address, CommandKind.CLOSE)
    meter.management.relay.press_button(deployment.clock.time())  # the customer's supply is back
    restored = meter.management.relay.supplying
    view = StationView(deployment)
    _replayed(deployment, tap, meter.address, captured[0])
    state = meter.management.relay.state
    outcome = Outcome(
        restored and not meter.management.relay.supplying,
        f"the utility's trip {tripped}; supply restored; after the replay the relay is "
        f"{state.value}",
        evidence=[f"captured trip: {hexed(captured[0])}"],
    )
    return view.into(outcome)


@scenario(
    2,
    "replay-top-up",
    "a captured prepaid top-up, sent again on the power line, credits the wallet twice",
    (Protection.IDENTITY, Protection.DATA, Protection.MONITORING),
)
def replay_top_up(protected: bool) -> Outcome:
    deployment = fresh_deployment(protected)
    net, meter = meter_of(deployment)
    if deployment.hsm is None:
        PlainWallet().fit(meter)
    wallet = meter.management.wallet
    assert wallet is not None
    tap = Tap(net)
    amount = 10_000  # fen: a 100-yuan purchase
    if deployment.hsm is not None:
        parameter = deployment.hsm.top_up(meter.address, amount, operator="otto")
    else:
        parameter = Data.structure(
            Data(DataType.DOUBLE_LONG_UNSIGNED, amount),
            Data(DataType.SID_MAC, SIDMAC(SID(0, b""), b"")),
        )
    command = UtilityCommand(deployment, meter.address)
    command.send(ActionRequest(1, _TOP_UP, parameter))
    deployment.run_virtual(120)
    paid = wallet.balance()
    captured = commands_on_the_line(tap, meter.address)
    view = StationView(deployment)
    for _ in range(3):  # and again, and again
        _replayed(deployment, tap, meter.address, captured[0])
    balance = wallet.balance()
    outcome = Outcome(
        balance > paid,
        f"top-up of {amount / 100:.2f} yuan: {command.result}, wallet {paid / 100:.2f}; after "
        f"three replays the wallet holds {balance / 100:.2f} yuan",
        evidence=[f"captured top-up: {hexed(captured[0])}"],
    )
    return view.into(outcome)


@scenario(
    2,
    "replay-parameter-write",
    "a captured parameter write (the charging-pile power limit lifted), replayed after the "
    "utility imposed a limit, lifts it again",
    (Protection.IDENTITY, Protection.MONITORING),
)
def replay_parameter_write(protected: bool) -> Outcome:
    deployment = fresh_deployment(protected)
    net, meter = meter_of(deployment)
    tap = Tap(net)
    limit = OAD(CHARGING_PILE_LIMIT, 2, 0)
    results = []
    for watts in (0, 3000):  # lifted (captured), then a 3 kW limit in a shortage
        command = UtilityCommand(deployment, meter.address)
        command.send(SetRequestNormal(1, limit, Data(DataType.DOUBLE_LONG_UNSIGNED, watts)))
        deployment.run_virtual(120)
        results.append(f"limit {watts} W: {command.result}")
    imposed = meter.management.power_limit
    lifted = commands_on_the_line(tap, meter.address)[0]
    view = StationView(deployment)
    _replayed(deployment, tap, meter.address, lifted)
    now = meter.management.power_limit
    outcome = Outcome(
        imposed == 3000 and now == 0,
        f"{'; '.join(results)}; after the replay the pile's limit is {now or 'none'}"
        + (" W" if now else ""),
        evidence=[f"captured write: {hexed(lifted)}"],
    )
    return view.into(outcome)
