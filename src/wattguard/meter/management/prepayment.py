"""Prepayment in the management module: the expansion module's deductions and trip requests
checked against the ESAM wallet and the overdraft (:mod:`~wattguard.meter.management.overdraft`),
and the supply allowed back after a top-up. A mixin of
:class:`~wattguard.meter.management.module.ManagementModule`, which provides the state and the
relay operations it declares.

The rules: a deduction is taken only if the energy metered since the last one could cost it
(at most :data:`MAX_PRICE_FEN_PER_KWH`); beyond the wallet it is owed (202D), down to the
overdraft limit (401F, first field); a trip on the expansion module's word is carried out only
when the credit (wallet less what is owed) is at or below minus that limit and the meter is
not protected (power keeping); after such a trip, credit above the close-allowed limit (401F,
third field) allows the customer to close the relay.
"""

from __future__ import annotations

from wattguard.meter.links.uart import LocalRelay, UartMessage
from wattguard.meter.management.overdraft import Overdraft, OverdraftWallet
from wattguard.meter.management.parameters import MeterParameters
from wattguard.meter.management.relay import Relay
from wattguard.meter.metering.registers import EnergyRegisters
from wattguard.protocol import Data, DataType

__all__ = ["MAX_PRICE_FEN_PER_KWH", "Prepayment"]

#: The dearest tariff a deduction may be charged at, fen per kWh (a bound, not a price).
MAX_PRICE_FEN_PER_KWH = 500


class Prepayment:
    """The prepayment checks (module docstring), mixed into the management module."""

    wallet: OverdraftWallet | None
    overdraft: Overdraft
    relay: Relay
    parameters: MeterParameters
    registers: EnergyRegisters
    protected: bool
    _deducted_wh: float
    _credit_trip: bool  # the relay is open because the credit ran out

    def trip(self, now: float, delay: float = 0.0, duration: float = 0.0, reason: str = "") -> None:
        """Open the relay (the management module's)."""

    def close(self, now: float, direct: bool) -> None:
        """Close the relay or allow the customer to (the management module's)."""

    def send_to_expansion(self, kind: UartMessage, value: Data) -> None:
        """Send one message to the expansion module (the management module's)."""

    def _refuse(self, detail: str, now: float) -> None:
        """Record an unauthorised request (the management module's)."""

    def _credit_restored(self, now: float) -> None:
        """After a trip at zero credit, a wallet holding credit again (a top-up) allows the
        relay to close: the customer's button restores the supply. A top-up the wallet took
        outside the F100 method repays the overdraft here (overdraft.py)."""
        if self.wallet is not None and self.overdraft.owed and self.wallet.balance():
            self._topped_up(self.wallet.balance())
        if not self._credit_trip or self.wallet is None or self.relay.supplying:
            self._credit_trip = False
            return
        if self._credit_left() > self.parameters.credit_limits[2]:  # 401F close allowed
            self._credit_trip = False
            self.close(now, direct=False)

    def _local_relay(self, request: LocalRelay, now: float) -> None:
        if request == LocalRelay.ALARM_ON:
            self.relay.set_alarm(True, now)
            return
        if request == LocalRelay.ALARM_OFF:
            self.relay.set_alarm(False, now)
            return
        # A trip on the expansion module's word alone: only when our own ESAM wallet agrees
        # that the credit is exhausted, and never while the meter is protected.
        exhausted = -self.parameters.credit_limits[0]  # 401F: the overdraft limit
        if self.protected and (self.wallet is None or self._credit_left() > exhausted):
            self._refuse("local trip refused: the credit is not exhausted", now)
            return
        if self.relay.protected:
            self._refuse("local trip refused: the meter is protected (power keeping)", now)
            return
        self.trip(now, reason="credit exhausted")
        self._credit_trip = not self.relay.supplying

    def _deduct(self, amount: int, energy_wh: int, now: float) -> None:
        if self.wallet is None:
            self._refuse("deduction but no wallet in this meter", now)
            return
        metered_wh = self.registers.combined_active()[0] / 3600.0
        new_energy = metered_wh - self._deducted_wh
        if self.protected and (
            energy_wh > new_energy + 1 or amount > energy_wh * MAX_PRICE_FEN_PER_KWH / 1000 + 1
        ):
            self._refuse(f"deduction of {amount} fen for {energy_wh} Wh is implausible", now)
            return
        self._deducted_wh += energy_wh
        # beyond the wallet the customer overdraws, down to the overdraft limit (overdraft.py)
        limit = self.parameters.credit_limits[0]
        credit = self.overdraft.charge(self.wallet, amount, limit)
        self.send_to_expansion(UartMessage.BALANCE, Data(DataType.DOUBLE_LONG, credit))

    def _credit_left(self) -> int:
        """The wallet's balance less what is owed (negative in overdraft), fen."""
        return 0 if self.wallet is None else self.overdraft.credit(self.wallet)

    def _topped_up(self, balance: int) -> None:
        """After a top-up: repay the overdraft, then tell the expansion module the credit."""
        credit = balance if self.wallet is None else self.overdraft.settle(self.wallet)
        self.send_to_expansion(UartMessage.BALANCE, Data(DataType.DOUBLE_LONG, credit))
