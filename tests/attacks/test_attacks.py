"""Every attack scenario: refused and noticed when protected, successful when not."""

from __future__ import annotations

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
