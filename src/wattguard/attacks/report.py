"""The security report: a terminal table and an HTML page with the evidence."""

from __future__ import annotations

import datetime as dt
import html
from collections.abc import Sequence

from wattguard.attacks.harness import Outcome, Result

__all__ = ["html_report", "table"]


def _short(outcome: Outcome) -> str:
    return ("SUCCEEDED" if outcome.succeeded else "refused") + (
        " (noticed)" if outcome.detected else ""
    )


def table(results: Sequence[Result]) -> str:
    rows = [("#", "scenario", "protection", "protected", "unprotected", "verdict")]
    for r in results:
        s = r.scenario
        rows.append(
            (
                str(s.number), s.name, ", ".join(p.value for p in s.protections),
                _short(r.protected), _short(r.unprotected), r.verdict,
            )
        )  # fmt: skip
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)) for row in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    held = sum(1 for r in results if r.holds)
    lines.append(f"\n{held} of {len(results)} scenarios: the protection holds")
    return "\n".join(lines)


def _outcome_html(title: str, outcome: Outcome) -> str:
    def items(values: list[str]) -> str:
        if not values:
            return "<p class=none>none</p>"
        shown = "".join(f"<li><code>{html.escape(v)}</code></li>" for v in values[:20])
        more = f"<li>... and {len(values) - 20} more</li>" if len(values) > 20 else ""
        return f"<ul>{shown}{more}</ul>"

    verdict = "succeeded" if outcome.succeeded else "refused"
    return (
        f"<div class='run {verdict}'><h4>{title}: the attack {verdict}</h4>"
        f"<p>{html.escape(outcome.summary)} ({outcome.seconds * 1000:.0f} ms)</p>"
        f"<h5>security events</h5>{items(outcome.events)}"
        f"<h5>alerts at the station</h5>{items(outcome.alerts)}"
        f"<h5>evidence</h5>{items(outcome.evidence)}</div>"
    )


def html_report(results: Sequence[Result]) -> str:
    when = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    rows, sections = [], []
    for r in results:
        s = r.scenario
        css = "holds" if r.holds else "fails"
        anchor = f"s-{s.name}"
        rows.append(
            f"<tr class={css}><td>{s.number}</td><td><a href='#{anchor}'>{html.escape(s.name)}"
            f"</a></td><td>{html.escape(s.threat)}</td>"
            f"<td>{html.escape(', '.join(p.value for p in s.protections))}</td>"
            f"<td>{_short(r.protected)}</td><td>{_short(r.unprotected)}</td>"
            f"<td>{html.escape(r.verdict)}</td></tr>"
        )
        sections.append(
            f"<section id='{anchor}'><h3>{s.number}. {html.escape(s.name)}</h3>"
            f"<p>{html.escape(s.threat)}</p>"
            + _outcome_html("protected", r.protected)
            + _outcome_html("unprotected", r.unprotected)
            + "</section>"
        )
    held = sum(1 for r in results if r.holds)
    return f"""<!doctype html>
<html lang=en><head><meta charset=utf-8><title>wattguard security report</title>
<style>
body {{ font-family: system-ui, sans-serif; margin: 2em; max-width: 80em; }}
table {{ border-collapse: collapse; }} td, th {{ border: 1px solid #ccc; padding: .3em .6em; }}
tr.holds td:last-child {{ color: #075; }}
tr.fails td:last-child {{ color: #b00; font-weight: bold; }}
.run {{ border-left: 4px solid #ccc; padding-left: 1em; margin: 1em 0; }}
.run.succeeded {{ border-color: #b00; }} .run.refused {{ border-color: #075; }}
code {{ font-size: .85em; word-break: break-all; }} .none {{ color: #888; }}
</style></head><body>
<h1>wattguard security report</h1>
<p>{when}: {held} of {len(results)} scenarios show the protection holding (refused and
noticed when protected, successful when the protection is off).</p>
<table><tr><th>#</th><th>scenario</th><th>threat</th><th>protection</th><th>protected</th>
<th>unprotected</th><th>verdict</th></tr>
{"".join(rows)}
</table>
{"".join(sections)}
</body></html>
"""
