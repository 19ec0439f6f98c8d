"""The PKI directory's keys are never readable by others, not even for an instant, whatever
the umask; a key file others can write is refused (issue #13 item 5)."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from wattguard.clock import VirtualClock
from wattguard.network.utility import UtilityPki
from wattguard.secretfile import UnprotectedSecretError
from wattguard.testing import T0
from wattguard.testing.files import umask, watch_modes

TERMINAL = bytes.fromhex("990000000002")


def test_no_key_is_ever_seen_readable_by_others_under_umask_0(tmp_path: Path) -> None:
    folder = tmp_path / "pki"
    utility = UtilityPki.create(VirtualClock(T0))
    with umask(0), watch_modes(folder) as watch:
        utility.save(folder)
        utility.enrol(TERMINAL)
        utility.save(folder)  # the administrator's next command rewrites every key
    keys = {name for name, _ in watch.seen if name.endswith(".key")}
    assert {"ca.key", "fep.key", f"terminal-{TERMINAL.hex()}.key"} <= keys
    assert watch.loose("*.key") == []
    assert all(stat.S_IMODE(p.stat().st_mode) == 0o600 for p in folder.glob("*.key"))
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    assert not [p for p in folder.iterdir() if p.name.endswith(".tmp")]


def test_a_key_others_can_write_is_refused_when_read(tmp_path: Path) -> None:
    folder = tmp_path / "pki"
    clock = VirtualClock(T0)
    UtilityPki.create(clock).save(folder)
    (folder / "fep.key").chmod(0o646)
    with pytest.raises(UnprotectedSecretError, match=r"chmod 600 .*fep\.key"):
        UtilityPki.load_party(folder, clock, "fep")
    (folder / "fep.key").chmod(0o600)
    (folder / "ca.key").chmod(0o660)
    with pytest.raises(UnprotectedSecretError, match=r"ca\.key"):
        UtilityPki.load(folder, clock)
    assert UtilityPki.load_party(folder, clock, "fep").fep is not None
