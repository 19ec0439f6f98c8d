"""``wattguard export``: stored readings as CSV or JSON lines, with names, units, ISO times."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest

from wattguard.cli import main
from wattguard.station.ingest import Reading
from wattguard.station.storage import open_storage

START = 1_789_948_800  # 2026-09-21T00:00:00Z


@pytest.fixture
def database(tmp_path: Path) -> str:
    url = f"sqlite:///{tmp_path / 'station.db'}"
    storage = open_storage(url)
    for meter in ("000000000001", "000000000002"):
        storage.register_meter(meter, "000000000100", START)
        storage.add_readings(
            Reading(meter, "00100201", START + 900 * k, 1.14 + 0.01 * k) for k in range(8)
        )
    storage.close()
    return url


def test_csv_has_names_units_iso_times_and_only_the_span(
    database: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["export", "--database", database, "--from", "2026-09-21T00:15:00Z",
                 "--to", "2026-09-21T01:15:00", "--meters", "000000000002"])  # fmt: skip
    assert code == 0
    out = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    assert [r["at"] for r in out] == [f"2026-09-21T{t}:00Z" for t in
                                      ("01:00", "00:45", "00:30", "00:15")]  # fmt: skip
    assert {(r["meter"], r["name"], r["unit"]) for r in out} == {
        ("000000000002", "forward active energy, total", "kWh")
    }
    assert [r["value"] for r in out] == ["1.18", "1.17", "1.16", "1.15"]


def test_json_lines_cover_every_meter(database: str, tmp_path: Path) -> None:
    target = tmp_path / "out.json"
    code = main(["export", "--database", database, "--from", str(START), "--to",
                 "2026-09-22", "--format", "json", "--output", str(target)])  # fmt: skip
    assert code == 0
    rows = [json.loads(line) for line in target.read_text().splitlines()]
    assert len(rows) == 16 and {r["meter"] for r in rows} == {"000000000001", "000000000002"}
    assert all(r["unit"] == "kWh" and r["at"].endswith("Z") for r in rows)


def test_a_bad_time_is_refused(database: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["export", "--database", database, "--from", "soon", "--to", "2026-09-22"]) != 0
    assert "ISO 8601" in capsys.readouterr().err


def test_parquet_has_the_same_rows_with_typed_columns(database: str, tmp_path: Path) -> None:
    pq = pytest.importorskip("pyarrow.parquet", reason="the parquet extra (pyarrow) is absent")
    target, lines = tmp_path / "out.parquet", tmp_path / "out.json"
    span = ["--database", database, "--from", str(START), "--to", "2026-09-22"]
    assert main(["export", *span, "--format", "parquet", "--output", str(target)]) == 0
    assert main(["export", *span, "--format", "json", "--output", str(lines)]) == 0
    table = pq.read_table(target)
    assert str(table.schema.field("time").type) == "int64"
    assert str(table.schema.field("value").type) == "double"
    assert table.to_pylist() == [json.loads(line) for line in lines.read_text().splitlines()]


def test_parquet_without_a_file_or_without_pyarrow_says_what_to_do(
    database: str, tmp_path: Path, capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    span = ["--database", database, "--from", str(START), "--to", "2026-09-22"]
    assert main(["export", *span, "--format", "parquet"]) == 2
    assert "--output" in capsys.readouterr().err
    monkeypatch.setitem(__import__("sys").modules, "pyarrow", None)  # as if not installed
    target = tmp_path / "out.parquet"
    assert main(["export", *span, "--format", "parquet", "--output", str(target)]) == 2
    assert "wattguard[parquet]" in capsys.readouterr().err and not target.exists()
