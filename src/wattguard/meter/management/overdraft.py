"""The overdraft of a prepaid meter: credit that may go below zero, down to the overdraft limit
the station set (401F, first field), before the prepayment trip.

Theory of operation. The ESAM's wallet counts whole fen and never goes below zero (its deduct
answers "insufficient" instead). What the customer owes beyond it is the meter's overdraft
amount (object 202D, double-long-unsigned fen), kept here in the non-volatile store (key
``overdraft``: a restart must not forgive it). The credit the cost control sees is the wallet's
balance minus what is owed, so it goes negative, never below minus the overdraft limit; the
trip comes there. A top-up repays what is owed first (deducted from the wallet as soon as the
top-up lands), as prepayment meters do: the customer who overdrew 5 yuan and buys 20 has 15.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from wattguard.errors import WalletError
from wattguard.meter.management.storage import Store

__all__ = ["Overdraft", "OverdraftWallet"]

_KEY = "overdraft"


class OverdraftWallet(Protocol):
    """The ESAM wallet as the overdraft uses it."""

    def balance(self) -> int: ...

    def deduct(self, amount: int) -> int: ...


@dataclass
class Overdraft:
    """What the customer owes beyond the wallet (fen), persisted in ``store``."""

    store: Store
    owed: int = 0

    @classmethod
    def restore(cls, store: Store) -> Overdraft:
        """The overdraft saved in ``store`` (none saved, or unreadable: nothing owed)."""
        saved = store.get(_KEY)
        owed = int.from_bytes(saved, "big") if saved is not None and len(saved) == 4 else 0
        return cls(store, owed)

    def credit(self, wallet: OverdraftWallet) -> int:
        """The credit left, fen: negative while the customer is in overdraft."""
        return wallet.balance() - self.owed

    def charge(self, wallet: OverdraftWallet, amount: int, limit: int) -> int:
        """Charge ``amount`` fen: from the wallet while it holds enough, the rest owed up to
        ``limit`` fen (what is used past the limit, before the trip lands, is not charged, as
        a meter without an overdraft takes only what the wallet holds). Returns the credit
        left."""
        taken = min(amount, wallet.balance())
        if taken:
            try:
                wallet.deduct(taken)
            except WalletError:  # the wallet moved between the read and the deduct
                taken = 0
        self._owe(min(self.owed + amount - taken, max(limit, self.owed)))
        return self.credit(wallet)

    def settle(self, wallet: OverdraftWallet) -> int:
        """Repay what is owed out of the wallet (after a top-up). Returns the credit left."""
        repay = min(self.owed, wallet.balance())
        if repay:
            wallet.deduct(repay)
            self._owe(self.owed - repay)
        return self.credit(wallet)

    def _owe(self, owed: int) -> None:
        self.owed = min(max(owed, 0), 0xFFFFFFFF)
        self.store.put(_KEY, self.owed.to_bytes(4, "big"))
