"""What a lazy fleet's meters served, as counts and an order-independent checksum.

Theory of operation. A benchmark of the whole chain (terminals, FEP, bus, ingest workers,
database: ``bench/chain.py``) must show that every reading the meters produced is stored
exactly once. A :class:`ReadingLedger` hangs on a
:class:`~wattguard.simulation.lazy_server.LazyServer` (``server.ledger = ledger``) and sees each
plain answer a meter gives a GET, before it is encoded, MAC'd and sent. It names each value as
a stored reading is named (DL/T 698.45 OAD with the element index, a record's values prefixed
with the record object, ``50020200/00100201``), dates it (a real-time value by the meter's own
date-time 4000-0200 read in the same answer: an answer without it is one the station refuses,
so it counts nothing; a record row by its freeze time 2021-0200) and counts it once: a value
whose time is not later than the last one this meter served in the same kind of answer is a
re-read (a retry) that the storage keeps once, so it is not counted again.

The checksum is the sum, modulo 2**64, of the first 8 bytes (big-endian, signed) of the MD5
of ``"<meter hex>|<quantity>|<time>|<value in 10^-4 units>"`` over every counted value, the
value being the raw integer times the object catalogue's scale: the same sum computed in SQL
over the stored rows (``round(value * 10000)``) must equal it. MD5 is a fingerprint here, not
a security function.
"""

from __future__ import annotations

import hashlib
import math
from typing import Any

import numpy as np
from numpy.typing import NDArray

from wattguard.protocol import OAD, Data, DataType
from wattguard.protocol.apdu import Structure
from wattguard.protocol.apdu.get import GetResponseNormalList, GetResponseRecord
from wattguard.protocol.objects import lookup

__all__ = ["CHECKSUM_SQL", "ReadingLedger", "fingerprint"]

_FREEZE_TIME = OAD(0x2021, 2, 0)
_METER_TIME = OAD(0x4000, 2, 0)
_MASK = (1 << 64) - 1
_UNITS = 10_000  # the checksum's value unit: 10^-4 of the stored value

#: The same checksum over a station's ``readings`` table (PostgreSQL): per meter, the count and
#: the sum of the fingerprints (add them up modulo 2**64 in Python).
CHECKSUM_SQL = (
    "SELECT meter, count(*), sum(('x' || left(md5(meter || '|' || quantity || '|' || time "
    "|| '|' || round(value * 10000)::bigint), 16))::bit(64)::bigint::numeric) "
    "FROM readings GROUP BY meter"
)


def fingerprint(meter: str, quantity: str, time: int, units: int) -> int:
    """One reading's fingerprint (signed 64 bits; see the module docstring)."""
    digest = hashlib.md5(f"{meter}|{quantity}|{time}|{units}".encode(), usedforsecurity=False)
    return int.from_bytes(digest.digest()[:8], "big", signed=True)


class ReadingLedger:
    """Counts and checksum of what ``addresses`` (a lazy fleet's meters, in its column order)
    served (see the module docstring)."""

    def __init__(self, addresses: list[bytes]) -> None:
        # the addresses themselves (the fleet's and the terminals' objects), not a name each:
        # a name is made when a value is counted (a 100,000-meter day holds 6 MB less)
        self.addresses = list(addresses)
        self.counts: NDArray[np.int64] = np.zeros(len(addresses), dtype=np.int64)
        self._last = np.full((2, len(addresses)), -np.inf)  # real-time, records
        self._sum = 0
        self._scales: dict[tuple[OAD, str], tuple[int, list[str]]] = {}

    @property
    def names(self) -> list[str]:
        """The meters' names (their addresses in hex), in column order."""
        return [a.hex() for a in self.addresses]

    @property
    def checksum(self) -> int:
        """The sum of the counted values' fingerprints, modulo 2**64."""
        return self._sum & _MASK

    @property
    def total(self) -> int:
        """How many values were counted."""
        return int(self.counts.sum())

    def served(self, meter: int, answer: Structure | None) -> None:
        """Count the values of ``answer``, meter ``meter``'s plain answer to a GET."""
        if isinstance(answer, GetResponseNormalList):
            self._normal(meter, answer)
        elif isinstance(answer, GetResponseRecord):
            self._records(meter, answer)

    def _normal(self, meter: int, answer: GetResponseNormalList) -> None:
        stamp = next((r.result for r in answer.results if r.oad == _METER_TIME), None)
        if not isinstance(stamp, Data):
            return
        time = math.floor(stamp.value.to_posix())
        if time <= self._last[0, meter]:
            return
        self._last[0, meter] = time
        for result in answer.results:
            if isinstance(result.result, Data) and result.oad != _METER_TIME:
                self._add(meter, result.oad, "", result.result, time)

    def _records(self, meter: int, answer: GetResponseRecord) -> None:
        record = answer.result
        if not isinstance(record.result, tuple):
            return
        columns = [csd.column for csd in record.columns.columns]
        if _FREEZE_TIME not in columns:
            return
        at = columns.index(_FREEZE_TIME)
        prefix = f"{record.oad}/"
        for row in record.result:
            time = math.floor(row[at].value.to_posix())
            if time <= self._last[1, meter]:
                continue
            self._last[1, meter] = time
            for column, value in zip(columns, row, strict=True):
                if isinstance(column, OAD) and column != _FREEZE_TIME:
                    self._add(meter, column, prefix, value, time)

    def served_now(self, meter: int, time: int, values: list[tuple[OAD, list[int]]]) -> None:
        """Count a real-time answer given as numbers (``simulation/lazy_answers.py``): meter
        ``meter``'s date-time ``time`` and, per attribute read (element 0, an array), its
        items; the same count and checksum as :meth:`served` of the answer's APDU."""
        if time <= self._last[0, meter]:
            return
        self._last[0, meter] = time
        for oad, items in values:
            self._add_numbers(meter, oad, "", items, time)

    def served_rows(
        self, meter: int, prefix: str, rows: list[tuple[int, list[tuple[OAD, list[int]]]]]
    ) -> None:
        """Count a record answer given as numbers: per row its freeze time and, per column
        (element 0, an array; the freeze time left out), its items; ``prefix`` is the record
        object's OAD and "/"."""
        for time, values in rows:
            if time <= self._last[1, meter]:
                continue
            self._last[1, meter] = time
            for oad, items in values:
                self._add_numbers(meter, oad, prefix, items, time)

    def _add_numbers(self, meter: int, oad: OAD, prefix: str, items: list[int], time: int) -> None:
        scale, names = self._named(oad, prefix)
        name = self.addresses[meter].hex()
        total = 0
        counted = 0
        for quantity, number in zip(names[1:], items, strict=False):
            total += fingerprint(name, quantity, time, number * scale)
            counted += 1
        self._sum += total
        self.counts[meter] += counted

    def _add(self, meter: int, oad: OAD, prefix: str, value: Data, time: int) -> None:
        scale, names = self._named(oad, prefix)
        items: tuple[Any, ...] = (value,)
        if value.type in (DataType.ARRAY, DataType.STRUCTURE) and oad.element == 0:
            items = value.value
            names = names[1:]
        else:
            names = names[:1]
        name = self.addresses[meter].hex()
        total = 0
        counted = 0
        for quantity, item in zip(names, items, strict=False):
            number = item.value
            if isinstance(number, bool) or not isinstance(number, int):
                continue
            total += fingerprint(name, quantity, time, number * scale)
            counted += 1
        self._sum += total
        self.counts[meter] += counted

    def _named(self, oad: OAD, prefix: str) -> tuple[int, list[str]]:
        known = self._scales.get((oad, prefix))
        if known is None:
            info = lookup(oad.oi)
            scaler = info.scaler if info is not None and info.scaler is not None else 0
            scale = round(_UNITS * 10.0**scaler)
            names = [prefix + str(oad)] + [
                prefix + str(OAD(oad.oi, oad.attribute, i, oad.feature)) for i in range(1, 16)
            ]
            known = (scale, names)
            self._scales[(oad, prefix)] = known
        return known
