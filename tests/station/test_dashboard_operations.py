"""The dashboard's operational events, in Debian's headless Chromium: what
``/api/operational-events`` holds, newest first, with a meter's text shown as text."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from wattguard.station.records import OperationalEvent, OperationalKind
from wattguard.testing.browser import HOSTILE, LiveStation, Page, chromium, dump_dom, utc
from wattguard.testing.deployment import populated


@pytest.fixture(scope="module")
def live() -> Iterator[LiveStation]:
    chromium()  # skip before starting anything
    deployment = populated(meters=2, per_terminal=2)
    meter = next(iter(deployment.nets[0].meters)).hex()
    now = deployment.clock.time()
    operations = deployment.station.operations
    operations.record(OperationalEvent(now, OperationalKind.OVER_CURRENT, meter, "78.3 A"))
    operations.record(
        OperationalEvent(now + 1, OperationalKind.PILE_OVER_LIMIT, meter, f"pile {HOSTILE}")
    )
    station = LiveStation(deployment)
    yield station
    station.stop()


def test_the_dashboard_shows_the_operational_events(live: LiveStation, tmp_path: Path) -> None:
    dom = dump_dom(f"{live.url}/#token=viewer-token", tmp_path)
    page = Page(dom)
    assert page.text["status"].startswith("Up to date"), page.text["status"]
    stored = live.get("/api/operational-events?limit=20")
    assert len(stored) == 2
    assert page.rows["operations"] == [
        [utc(e["time"]), e["kind"].replace("_", " "), e["meter"], e["detail"]] for e in stored
    ]
    assert page.rows["operations"][0][1] == "pile over limit"
    assert not [attrs for tag, attrs in page.tags if tag == "img"]  # text stays text
    alerts = {row[1] for row in page.rows["alerts"]}
    assert {"operational: over current", "operational: pile over limit"} <= alerts
