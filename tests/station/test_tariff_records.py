"""The meters' own time-of-use tables for the analyses, from the tariff commands they
confirmed: recorded at the switch-over time, not before, and again after a restart."""

from __future__ import annotations

import json

import numpy as np
import numpy.typing as npt
import pytest

from wattguard.errors import ConfigError
from wattguard.station.commands import Command, CommandKind, CommandState
from wattguard.station.tariff_records import TariffRecords, day_steps

NOW = 1_790_000_000.0


def tariff(command_id: int, periods: list[list[object]], switch_at: str, *results: str) -> Command:
    meters = tuple(f"00000000000{k}" for k in range(1, len(results) + 1))
    argument = json.dumps({"periods": periods, "switch_at": switch_at})
    return Command(
        command_id, CommandKind.TARIFF, meters, "yan", NOW, argument, CommandState.DONE,
        approved_by="shi", results=tuple(zip(meters, results, strict=True)),
    )  # fmt: skip


def test_day_steps_maps_tariff_numbers_to_peak_flat_and_valley() -> None:
    steps = day_steps([(0, 0, 4), (7, 0, 3), (10, 0, 1), (12, 0, 2), (23, 0, 4)])
    assert steps.tolist() == [2] * 28 + [1] * 12 + [0] * 8 + [0] * 44 + [2] * 4
    # before the first start, the day's last period runs on from yesterday
    assert day_steps([(6, 0, 3), (18, 0, 2)]).tolist() == [0] * 24 + [1] * 48 + [0] * 24
    # a period starting inside a quarter hour takes over at the next one
    assert day_steps([(0, 0, 3), (8, 10, 4)]).tolist() == [1] * 33 + [2] * 63
    with pytest.raises(ConfigError):
        day_steps([])


def test_a_confirmed_table_is_recorded_at_its_switch_over_only_for_the_confirming_meters() -> None:
    recorded: dict[str, npt.NDArray[np.intp]] = {}
    records = TariffRecords(lambda meter, steps: recorded.__setitem__(meter, np.asarray(steps)))
    command = tariff(7, [["00:00", 3], ["08:00", 1]], "2026-09-22T00:00Z", "ok", "no answer")
    records.restore([command])
    assert records.waiting == 1 and records.tick(1_789_948_800 + 86_399) == 0 and not recorded
    assert records.tick(1_789_948_800 + 86_400) == 1
    assert list(recorded) == ["000000000001"]
    assert recorded["000000000001"].tolist() == [1] * 32 + [0] * 64


def test_the_latest_switch_over_wins_and_other_kinds_are_ignored() -> None:
    recorded: list[tuple[str, list[int]]] = []
    records = TariffRecords(lambda meter, steps: recorded.append((meter, list(steps))))
    later = tariff(9, [["00:00", 4]], "2026-09-23T00:00Z", "ok")
    earlier = tariff(8, [["00:00", 3]], "2026-09-22T00:00Z", "ok")
    trip = Command(10, CommandKind.TRIP, ("000000000001",), "yan", NOW, "", CommandState.DONE,
                   results=(("000000000001", "ok"),))  # fmt: skip
    records.restore([later, trip, earlier])
    assert records.tick(2_000_000_000.0) == 2
    assert recorded == [("000000000001", [1] * 96), ("000000000001", [2] * 96)]


def test_a_table_stored_by_an_older_station_is_skipped_not_fatal() -> None:
    records = TariffRecords(None)
    broken = tariff(11, [["25:00", 3]], "2026-09-22T00:00Z", "ok")
    records.restore([broken])
    assert records.waiting == 0
