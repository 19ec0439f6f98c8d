"""Store and forward: what the terminal collected waits here until the station has it.

Theory of operation. Collected items queue in order, each kept as the bytes it goes up as
(:func:`~.tasks.encode_item`: one object an item, not an item object and its two APDUs; a
terminal may hold a few per meter while the station is busy). Once the link is online they go up as
REPORT-Notification-TransData batches of at most ``batch_items``, with at most ``window``
batches unacknowledged at a time (each batch under its own PIID). A batch leaves the outbox
only when the station acknowledges it, and goes back to the front when the acknowledgement
times out or the link drops. The same reading may therefore reach the station twice (a lost
acknowledgement); the station stores each reading once (its key is the meter, the object and
the freeze time). When more than ``limit`` items wait, the oldest are dropped (and counted).

PIIDs at rest. A REPORT-Response-TransData names the batch it acknowledges by its PIID alone,
six bits: 64 values. An acknowledgement can come late (the station was slow and the batch
timed out, so its items went again under another PIID) or twice (a report stored twice, each
copy acknowledged). If its PIID had meanwhile been given to another batch, that batch would be
taken as acknowledged and leave the outbox though the station may never have it: a report
lost. So a PIID, once its batch is acknowledged, times out or goes back on a dropped link,
rests for ``quarantine`` seconds before it names another batch; an acknowledgement for a PIID
at rest matches nothing in flight and is ignored (the items it would have acknowledged were
sent again, and the station keeps each reading once). When every free PIID rests, the next
batch waits for the first to wake (:meth:`Outbox.due`). The default, 120 s, is four times the
terminal's upstream timeout: a batch's acknowledgement later than that is taken as lost.

Reports named by their time. The rest covers a late acknowledgement for as long as it lasts,
not one later still (a report the station's bus delivered a fifth time, or held through a long
outage). So each report also carries a time tag (DL/T 698.45's optional TimeTag: its send
time, to the second, and no limit on its transfer), the station's acknowledgement carries the
tag of the report it acknowledges, and the link takes an acknowledgement whose tag names
another report than the one its PIID awaits as a late one: a protocol violation, recorded, that
the outbox never hears of (:class:`~wattguard.protocol.connection.ServerConnection`). Two
reports under one PIID are at least the rest apart, so their tags differ. An acknowledgement
without a tag (a station that does not echo it) is taken as before.

Gathering. With ``hold`` > 0 the outbox waits before it sends a batch that is not full: a batch
goes up once ``batch_items`` items wait, or once the oldest waiting item has waited ``hold``
seconds, whichever comes first. A collection round over many meters then goes up as a few
full REPORT frames, each carrying many meters' records, as a concentrator reports a task's
results (DL/T 698.45-2017, object 6012 task configuration and the 601C report scheme;
docs/protocol.md, "Reporting many meters per frame"). Items put back (a lost acknowledgement,
a dropped link) go again at once. ``hold`` 0 sends each item as soon as the window has room.
"""

from __future__ import annotations

import logging
import math
from collections import deque

from wattguard.network.terminal.tasks import Collected, decode_item, encode_item
from wattguard.protocol.apdu.common import TimeTag
from wattguard.protocol.apdu.report import ReportNotificationTransData
from wattguard.protocol.objects import HPLC_PORT
from wattguard.protocol.values import TI, DateTimeS

__all__ = ["Outbox"]

log = logging.getLogger(__name__)

_PIIDS = 64
_SERVICE = 0x3F
#: Seconds a PIID rests after its batch is acknowledged, timed out or put back (see above).
QUARANTINE = 120.0
#: A report's time tag sets no limit on its transfer (an interval of 0): a report is data, and
#: one held up by an outage is still stored when it arrives.
NO_LIMIT = TI(0, 0)


class Outbox:
    """The items waiting for the station, and the batches on their way (see the module
    docstring). ``len(outbox)`` is the number of items waiting."""

    def __init__(
        self,
        name: str,
        *,
        batch_items: int,
        window: int,
        limit: int,
        hold: float = 0.0,
        quarantine: float = QUARANTINE,
    ) -> None:
        self.name = name
        self.hold = hold
        self.quarantine = quarantine
        self._resting: dict[int, float] = {}  # PIID -> when it may name a batch again
        self._waiting_since = float("-inf")  # when the oldest waiting item was queued
        self.batch_items = batch_items
        self.window = window
        self.limit = limit
        self._items: deque[bytes] = deque()  # encoded
        self.in_flight: dict[int, tuple[bytes, ...]] = {}  # encoded items of each batch
        self.dropped = 0
        self.sent_batches = 0
        self._piid = 0

    def __len__(self) -> int:
        return len(self._items)

    @property
    def items(self) -> list[Collected]:
        """The items waiting, oldest first (decoded again: for a look, not for every item)."""
        return [decode_item(item) for item in self._items]

    def queue(self, item: Collected, now: float = float("-inf")) -> None:
        """Keep ``item`` (queued at ``now``) until the station has it (dropping the oldest
        over the limit)."""
        if not self._items:
            self._waiting_since = now
        self._items.append(encode_item(item))
        while len(self._items) > self.limit:
            self._items.popleft()
            self.dropped += 1
            if self.dropped == 1 or self.dropped % 1000 == 0:
                log.warning("%s: outbox full, %d oldest items dropped", self.name, self.dropped)

    def due(self) -> float | None:
        """When a gathered batch that is not full falls due, or when a PIID wakes for the
        next batch if every free one rests (None: nothing waits, the window is full and an
        acknowledgement or its timeout comes first, or the batch can go now: no timer that
        could only find nothing to do)."""
        if not self._items or len(self.in_flight) >= self.window:
            return None
        if len(self.in_flight) + len(self._resting) >= _PIIDS:
            return min(self._resting.values())
        if self.hold <= 0 or len(self._items) >= self.batch_items:
            return None
        return self._waiting_since + self.hold

    def next_report(self, now: float = float("inf")) -> ReportNotificationTransData | None:
        """The next batch to send at ``now``, when items wait, the batch is full or due, and
        the window has room (None: not now). From here on the batch is in flight."""
        if not self._items or len(self.in_flight) >= self.window:
            return None
        gathering = self.hold > 0 and len(self._items) < self.batch_items
        if gathering and now < self._waiting_since + self.hold:
            return None
        piid = self._free_piid(now)
        if piid is None:
            return None
        count = min(self.batch_items, len(self._items))
        batch = tuple(self._items.popleft() for _ in range(count))
        self.in_flight[piid] = batch
        self.sent_batches += 1
        stamp = None if math.isinf(now) else TimeTag(DateTimeS.from_posix(now), NO_LIMIT)
        return ReportNotificationTransData(piid, HPLC_PORT, batch, time_tag=stamp)

    def acknowledged(self, piid: int, now: float) -> bool:
        """The station has the batch sent under ``piid`` (at ``now``); False when no batch is
        in flight under it (a late or repeated acknowledgement: ignored)."""
        piid &= _SERVICE
        if self.in_flight.pop(piid, None) is None:
            return False
        self._rest(piid, now)
        return True

    def unanswered(self, piid: int, now: float) -> None:
        """The batch sent under ``piid`` was not acknowledged in time: back to the front."""
        piid &= _SERVICE
        self._items.extendleft(reversed(self.in_flight.pop(piid, ())))
        self._waiting_since = float("-inf")
        self._rest(piid, now)

    def requeue(self, now: float) -> None:
        """The link dropped: every batch in flight goes back to the front, in order."""
        for piid in sorted(self.in_flight, reverse=True):
            self._items.extendleft(reversed(self.in_flight[piid]))
            self._rest(piid, now)
        self.in_flight.clear()
        self._waiting_since = float("-inf")

    def _rest(self, piid: int, now: float) -> None:
        if self.quarantine > 0:
            self._resting[piid] = now + self.quarantine

    def _free_piid(self, now: float) -> int | None:
        if self._resting:
            for piid in [p for p, until in self._resting.items() if until <= now]:
                del self._resting[piid]
        for _ in range(_PIIDS):
            self._piid = (self._piid + 1) % _PIIDS
            if self._piid not in self.in_flight and self._piid not in self._resting:
                return self._piid
        return None
