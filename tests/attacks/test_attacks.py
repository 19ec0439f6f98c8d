"""Every attack scenario: refused and noticed when protected, successful when not."""

from __future__ import annotations

import platform
import re
import subprocess
from pathlib import Path

import pytest

from wattguard.attacks import REGISTRY, run
from wattguard.attacks.report import html_report, table
from wattguard.cli import main


@pytest.mark.parametrize("name", sorted(REGISTRY))
def test_the_protection_holds(name: str) -> None:
    result = run(name)
    assert not result.protected.succeeded, result.protected.summary
    if result.scenario.baseline:
        assert result.unprotected.succeeded, result.unprotected.summary
    if result.scenario.detectable:
        assert result.protected.detected, "refused, but no security event or alert"
    assert result.holds and result.verdict.startswith("protection holds")


def test_report_and_command(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    name = sorted(REGISTRY)[0]
    result = run(name)
    assert name in table([result]) and "1 of 1 scenarios" in table([result])
    page = html_report([result])
    assert page.startswith("<!doctype html>") and f"id='s-{name}'" in page
    assert main(["attack", name, "--html", str(tmp_path / "r.html")]) == 0
    assert (tmp_path / "r.html").read_text().count("<section") == 1
    assert main(["attack", "no-such-attack"]) == 2
    assert "choose all or one of" in capsys.readouterr().err


def test_report_says_what_made_it_and_shows_whole_frames() -> None:
    from cryptography.hazmat.backends.openssl import backend

    import wattguard
    from wattguard.attacks.report import commit

    result = run("replay-trip")
    captured = next(
        e for e in result.protected.evidence + result.unprotected.evidence if "trip" in e
    )
    frame = re.search(r"[0-9a-f]{98,}", captured)
    assert frame is not None, f"the evidence holds the whole frame: {captured}"
    page = html_report([result])
    # the whole frame, folded in a <details> (a click shows it), never "... (57 bytes)" alone
    assert f"<span class=frame>{frame.group()}</span></details>" in page
    assert f"... ({len(frame.group()) // 2} bytes)</summary>" in page
    for fact in ("wattguard", "commit", "seed", "Python", "OpenSSL", "date"):
        assert f"<tr><th>{fact}</th>" in page
    assert f"<td>{wattguard.__version__}</td>" in page
    assert f"<td>{platform.python_version()} " in page
    assert backend.openssl_version_text() in page
    head = subprocess.run(
        ["git", "-C", str(Path(wattguard.__file__).parent), "rev-parse", "HEAD"],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    expected = head.stdout.strip() if head.returncode == 0 else "unknown"
    assert commit().split()[0] == expected and expected in page
