"""The ``wattguard analyse`` HTML report: one self-contained page (no script, no file or
address outside it), its plots inline SVG drawn here, every text escaped."""

from __future__ import annotations

import datetime as dt
import html
from collections.abc import Sequence
from typing import Any

__all__ = ["report"]

_STYLE = (
    "body{font-family:sans-serif;margin:2em;color:#222}table{border-collapse:collapse}"
    "td,th{border:1px solid #ccc;padding:2px 8px;text-align:right}th{background:#eee}"
    "svg{background:#fafafa;border:1px solid #ddd;margin:4px 0}"
)


def _day(t: int) -> str:
    return dt.datetime.fromtimestamp(t, dt.UTC).strftime("%Y-%m-%d")


def line_chart(
    values: Sequence[float | None], title: str, unit: str, width: int = 640, height: int = 180
) -> str:
    """An SVG line chart of ``values`` (None: a gap, never bridged), with its range marked."""
    present = [v for v in values if v is not None]
    if not present:
        return f"<p>{html.escape(title)}: no data</p>"
    low, high = min(0.0, *present), max(present)
    span = high - low or 1.0
    pad = 30
    n = max(len(values) - 1, 1)

    def x(i: int) -> float:
        return pad + (width - 2 * pad) * i / n

    def y(v: float) -> float:
        return height - pad - (height - 2 * pad) * (v - low) / span

    runs: list[list[str]] = [[]]
    for i, v in enumerate(values):
        if v is None:
            runs.append([])
        else:
            runs[-1].append(f"{x(i):.1f},{y(v):.1f}")
    paths = "".join(
        f'<polyline fill="none" stroke="#1f77b4" stroke-width="1.5" points="{" ".join(r)}"/>'
        for r in runs
        if r
    )
    zero = f'<line x1="{pad}" x2="{width - pad}" y1="{y(0):.1f}" y2="{y(0):.1f}" stroke="#999"/>'
    label = html.escape(f"{title} ({unit}): {low:.3g} .. {high:.3g}")
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'role="img"><title>{label}</title><text x="{pad}" y="16" font-size="12">{label}</text>'
        f"{zero}{paths}</svg>"
    )


def _table(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
    body = "".join(
        "<tr>" + "".join(f"<td>{html.escape(_shown(c))}</td>" for c in row) + "</tr>"
        for row in rows
    )
    return f"<table><tr>{head}</tr>{body}</table>"


def _shown(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def report(
    fleet: dict[str, Any], districts: Sequence[dict[str, Any]], meters: Sequence[dict[str, Any]]
) -> str:
    """The page: the fleet's top-N and clusters, each district's line loss per day (plot and
    table) and ranked meters, and the daily energy of the meters named."""
    parts = [
        "<!DOCTYPE html><html><head><meta charset='utf-8'><title>wattguard analysis</title>",
        f"<style>{_STYLE}</style></head><body><h1>wattguard analysis</h1>",
        "<h2>Fleet</h2>",
        _table(["cluster", "meters"], sorted(fleet["clusters"].items())),
        "<h3>Highest anomaly scores</h3>",
        _table(["meter", "score"], [(r["meter"], r["anomaly_score"]) for r in fleet["top_score"]]),
        "<h3>Largest estimated meter errors</h3>",
        _table(
            ["meter", "error (reading / true - 1)"],
            [(r["meter"], r["estimated_error"]) for r in fleet["top_error"]],
        ),
    ]
    for view in districts:
        loss = view["loss"]
        parts += [
            f"<h2>District {html.escape(view['district'])}</h2>",
            line_chart([row["rate"] for row in loss], "daily line-loss rate", "share"),
            _table(
                ["day", "supplied kWh", "loss kWh", "rate", "intervals"],
                [
                    (_day(r["day"]), r["supplied"], r["loss"], r["rate"], r["intervals"])
                    for r in loss
                ],
            ),
            "<h3>Meters, most suspect first</h3>",
            _table(
                ["meter", "estimated error", "anomaly score", "cluster"],
                [
                    (s["meter"], s["estimated_error"], s["anomaly_score"], s["cluster_name"])
                    for s in view["suspects"]
                ],
            ),
        ]
    for meter in meters:
        days = meter["days"]
        parts += [
            f"<h2>Meter {html.escape(meter['meter'])}</h2>",
            line_chart([d["energy"] for d in days], "daily energy", "kWh"),
            line_chart(meter["typical_day_kwh_per_hour"]["weekday"], "typical weekday", "kWh/h"),
            _table(
                ["cluster", "anomaly score", "estimated error", "missing intervals"],
                [
                    (
                        meter["cluster_name"],
                        meter["anomaly_score"],
                        meter["estimated_error"],
                        meter["missing_intervals"],
                    )
                ],
            ),
            _table(
                ["peak kWh", "flat kWh", "valley kWh", "time-of-use table"],
                [(*meter["time_of_use"].values(), meter["time_of_use_table"]["table"])],
            ),
            "<h3>Monthly energy</h3>",
            _table(
                ["month", "kWh", "days", "days missing", "change vs month before"],
                [
                    (m["month"], m["energy"], m["days"], m["days_missing"], m["change"])
                    for m in meter["monthly"]
                ],
            ),
            _table(
                ["last 7 days vs 7 before", "last 30 days vs 30 before"],
                [(meter["change"]["last_7_days"], meter["change"]["last_30_days"])],
            ),
        ]
    parts.append("</body></html>")
    return "\n".join(parts)
