"""Getting the piles' energy collected: the collection task a terminal runs for its meters
with a charging pile, fixed (the demo) or configured by the station over 6014 / 6012.

A meter with a pile freezes the pile's energy (FF13) in its 15-minute curve (5002) once the
pile is fitted (:func:`~wattguard.meter.management.pile_energy.fit_pile`). Its terminal reads
that curve, freeze time and FF13, from the pile meters only: :func:`pile_curve` is the task as
the demo gives it to a terminal; :func:`pile_scheme` the same as a 6014 scheme (collection by
interval, meter set MS choice 3, the pile meters' addresses) and its 6012 task, which
:class:`PileCollection` sends each district's terminal with ACTION method 127 (Add) until the
terminal has accepted both (tried again every five minutes while it is offline or refuses).
Scheme and task number :data:`SCHEME` are the charging job's (our choice).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping

from wattguard.meter.management.pile_energy import PILE_ENERGY
from wattguard.network.terminal import CollectionTask
from wattguard.network.terminal.scheme import NormalScheme, TaskConfig
from wattguard.protocol import CSD, OAD, OMD, Data
from wattguard.protocol.apdu.action import ActionRequest, ActionResponseNormal
from wattguard.protocol.apdu.common import DAR
from wattguard.protocol.values import ROAD, TI
from wattguard.station import Station

__all__ = ["SCHEME", "PileCollection", "pile_curve", "pile_scheme"]

log = logging.getLogger(__name__)

#: The 6014 scheme and 6012 task number the piles' curve takes at a terminal.
SCHEME = 17
COLUMNS = (OAD(0x2021, 2, 0), OAD(PILE_ENERGY, 2, 0))
CURVE = OAD(0x5002, 2, 0)
RETRY = 300.0


def pile_curve(meters: frozenset[bytes]) -> CollectionTask:
    """The collection task a terminal runs for its meters with a pile: their 15-minute curve
    with the pile's energy (FF13), read back to where the last read ended."""
    return CollectionTask(
        "pile curve", 900.0, COLUMNS, record=CURVE, interval=900.0, max_records=16,
        meters=meters,
    )  # fmt: skip


def pile_scheme(meters: Iterable[bytes]) -> tuple[NormalScheme, TaskConfig]:
    """The 6014 scheme and 6012 task of :func:`pile_curve` for ``meters``."""
    scheme = NormalScheme(SCHEME, 16, 3, (CSD(ROAD(CURVE, COLUMNS)),), TI(1, 15), frozenset(meters))
    return scheme, TaskConfig(SCHEME, TI(1, 15), SCHEME)


class PileCollection:
    """Has each district's terminal collect its pile meters' curve (see the module):
    ``piles`` maps a terminal (hex) to its pile meters (hex); :meth:`tick` each second."""

    def __init__(self, station: Station, piles: Mapping[str, Iterable[str]]) -> None:
        self.station = station
        self.pending = {bytes.fromhex(t): [bytes.fromhex(m) for m in ms] for t, ms in piles.items()}
        self.due: dict[bytes, float] = {}
        self.configured: set[bytes] = set()

    def tick(self, now: float) -> None:
        """Send the scheme, then the task, to each terminal that has not accepted them yet
        and is online (at most once every :data:`RETRY` seconds each)."""
        collector = self.station.collector
        for terminal, meters in self.pending.items():
            if terminal in self.configured or self.due.get(terminal, 0.0) > now:
                continue
            link = collector.links.get(terminal)
            if link is None or not link.online(collector.clock.monotonic()):
                continue
            self.due[terminal] = now + RETRY
            scheme, task = pile_scheme(meters)
            self._add(terminal, 0x6014, scheme.to_data(), self._then_task(terminal, task))

    def _then_task(self, terminal: bytes, task: TaskConfig) -> Callable[[], None]:
        def send() -> None:
            self._add(terminal, 0x6012, task.to_data(), lambda: self._done(terminal))

        return send

    def _done(self, terminal: bytes) -> None:
        self.configured.add(terminal)
        self.due.pop(terminal, None)
        log.info("charging: terminal %s collects its piles' curve", terminal.hex())

    def _add(self, terminal: bytes, oi: int, unit: Data, then: Callable[[], None]) -> None:
        def answered(answer: object) -> None:
            if isinstance(answer, ActionResponseNormal) and answer.result.dar == DAR.SUCCESS:
                then()
            else:
                dar = getattr(getattr(answer, "result", None), "dar", "no answer")
                log.warning("charging: terminal %s did not take %04X: %s", terminal.hex(), oi, dar)

        self.station.collector.request(
            terminal,
            lambda piid: ActionRequest(piid, OMD(oi, 127, 0), Data.array(unit)),
            answered,
        )
