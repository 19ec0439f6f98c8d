"""The security report: a terminal table and an HTML page with the evidence."""

from __future__ import annotations

import datetime as dt
import html
import platform
import re
import subprocess
from collections.abc import Sequence
from pathlib import Path

import wattguard
from wattguard.attacks.harness import Outcome, Result
from wattguard.attacks.scenarios.deployed import SEED

__all__ = ["commit", "html_report", "provenance", "table"]


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


#: A frame in the evidence: a run of hex longer than a line shows folded in a <details>.
_FRAME = re.compile(r"\b(?:[0-9a-f]{2}){49,}\b")
_FOLD = 96  # hex digits shown while folded


def _evidence(text: str) -> str:
    """One item of evidence as HTML: long hex frames whole, folded (a click unfolds them)."""
    out, at = [], 0
    for frame in _FRAME.finditer(text):
        hexed = frame.group()
        out.append(html.escape(text[at : frame.start()]))
        out.append(
            f"<details><summary>{hexed[:_FOLD]}... ({len(hexed) // 2} bytes)</summary>"
            f"<span class=frame>{hexed}</span></details>"
        )
        at = frame.end()
    out.append(html.escape(text[at:]))
    return "".join(out)


def commit() -> str:
    """The git commit this code runs from, when it runs from a checkout; ``"unknown"`` else
    (an installed package, no git)."""
    source = Path(wattguard.__file__).resolve().parent
    try:
        done = subprocess.run(
            ["git", "-C", str(source), "rev-parse", "HEAD"],
            capture_output=True, text=True, timeout=10, check=False,
        )  # fmt: skip
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    found = done.stdout.strip()
    if done.returncode != 0 or not re.fullmatch(r"[0-9a-f]{40,64}", found):
        return "unknown"
    dirty = subprocess.run(
        ["git", "-C", str(source), "status", "--porcelain", "--untracked-files=no"],
        capture_output=True, text=True, timeout=10, check=False,
    )  # fmt: skip
    return found + (" (with local changes)" if dirty.stdout.strip() else "")


def provenance() -> dict[str, str]:
    """What produced a report: wattguard's version and commit, the scenarios' seed, the
    Python and OpenSSL versions (OpenSSL: the one ``cryptography`` carries, which does the
    SM3/SM4), and the date."""
    from cryptography.hazmat.backends.openssl import backend

    return {
        "wattguard": wattguard.__version__,
        "commit": commit(),
        "seed": str(SEED),
        "Python": f"{platform.python_version()} ({platform.python_implementation()})",
        "OpenSSL": backend.openssl_version_text(),
        "date": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M:%S UTC"),
    }


def _outcome_html(title: str, outcome: Outcome) -> str:
    def items(values: list[str]) -> str:
        if not values:
            return "<p class=none>none</p>"
        shown = "".join(f"<li><code>{_evidence(v)}</code></li>" for v in values[:20])
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
    facts = provenance()
    when = facts["date"]
    made = "".join(
        f"<tr><th>{html.escape(k)}</th><td>{html.escape(v)}</td></tr>" for k, v in facts.items()
    )
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
details summary {{ cursor: pointer; }} .frame {{ display: block; margin: .3em 0 .3em 1em; }}
table.made th {{ text-align: left; }}
</style></head><body>
<h1>wattguard security report</h1>
<table class=made>{made}</table>
<p>{when}: {held} of {len(results)} scenarios show the protection holding (refused and
noticed when protected, successful when the protection is off).</p>
<table><tr><th>#</th><th>scenario</th><th>threat</th><th>protection</th><th>protected</th>
<th>unprotected</th><th>verdict</th></tr>
{"".join(rows)}
</table>
{"".join(sections)}
</body></html>
"""
