"""The frozen-loop scenario in detail: with the matching by service and PIID every meter
reports again after the late acknowledgements; with the old matching by PIID alone the
terminals stay logging in, the station no longer counts them online, and the reporting watch
alerts on their meters (issue #13, item 4)."""

from __future__ import annotations

from wattguard.attacks.scenarios.frozen_loop import frozen_loop


def test_with_the_fixed_matching_every_meter_reports_again() -> None:
    outcome = frozen_loop(True)
    assert not outcome.succeeded
    assert outcome.summary.startswith("8/8 meters reported again")
    assert "terminals online 4/4" in outcome.evidence[0]
    assert any("REPORT-Response answers no report" in e for e in outcome.events)


def test_with_the_old_matching_terminals_stay_out_and_the_station_says_so() -> None:
    outcome = frozen_loop(False)
    assert outcome.succeeded
    assert "terminals online 0/4" in outcome.evidence[0]
    assert any(line.endswith(": logging in") for line in outcome.evidence[1:])
    assert sum("stopped reporting" in a for a in outcome.alerts) == 8 + 4  # meters, terminals
