"""The ESAM's refund: under the wallet key and the same purchase count as top-ups, so a refund
can be replayed no more than a top-up, neither passes for the other, and no refund takes more
than the wallet holds."""

from __future__ import annotations

import pytest

from wattguard.errors import CounterError, EsamError, MacError, WalletError
from wattguard.protocol import SIDMAC, Data
from wattguard.testing import ADDRESS, T0
from wattguard.testing.esam import Rig, rig


def parts(parameter: Data) -> tuple[int, SIDMAC]:
    first, second = parameter.value
    return int(first.value), second.value


def top_up(r: Rig, parameter: Data) -> tuple[int, int]:
    amount, protected = parts(parameter)
    return r.client.top_up(amount, protected.sid, protected.mac, T0)


def refund(r: Rig, parameter: Data) -> tuple[int, int]:
    amount, protected = parts(parameter)
    return r.client.refund(amount, protected.sid, protected.mac, T0)


def test_a_refund_takes_credit_out_and_counts_as_a_purchase() -> None:
    r = rig()
    assert top_up(r, r.station.top_up(ADDRESS, 5000)) == (5000, 1)
    assert refund(r, r.station.top_up(ADDRESS, 1200, refund=True)) == (3800, 2)
    assert top_up(r, r.station.top_up(ADDRESS, 100)) == (3900, 3)


def test_a_replayed_refund_is_refused_and_takes_nothing() -> None:
    r = rig()
    top_up(r, r.station.top_up(ADDRESS, 5000))
    parameter = r.station.top_up(ADDRESS, 1000, refund=True)
    refund(r, parameter)
    with pytest.raises(CounterError):
        refund(r, parameter)
    assert r.client.balance() == 4000


def test_a_refund_is_no_top_up_and_a_top_up_no_refund() -> None:
    r = rig()
    top_up(r, r.station.top_up(ADDRESS, 5000))
    as_refund = r.station.top_up(ADDRESS, 1000, refund=True)
    with pytest.raises(EsamError):  # its SID names a refund: the top-up instruction refuses it
        top_up(r, as_refund)
    amount, protected = parts(r.station.top_up(ADDRESS, 1000))
    with pytest.raises(EsamError):
        r.client.refund(amount, protected.sid, protected.mac, T0)
    assert r.client.balance() == 5000


def test_a_refund_with_a_changed_amount_fails_its_mac() -> None:
    r = rig()
    top_up(r, r.station.top_up(ADDRESS, 5000))
    _, protected = parts(r.station.top_up(ADDRESS, 100, refund=True))
    with pytest.raises(MacError):
        r.client.refund(4900, protected.sid, protected.mac, T0)
    assert r.client.balance() == 5000


def test_no_refund_takes_more_than_the_wallet_holds() -> None:
    r = rig()
    top_up(r, r.station.top_up(ADDRESS, 500))
    with pytest.raises(WalletError):
        refund(r, r.station.top_up(ADDRESS, 501, refund=True))
    assert r.client.balance() == 500
