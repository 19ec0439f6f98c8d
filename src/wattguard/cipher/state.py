"""The cryptographic device's counters on disk: a snapshot and a write-ahead journal.

Theory of operation. Every counter the station side keeps per meter (key version, command
counter, top-up count, and the window of report counters with their MACs) must be on disk
before it is relied on: before a protected command leaves the device, before a verified report
is handed back to the station (which then acknowledges it to the terminal). Rewriting one file
with every meter's state at each change costs time in proportion to the fleet, so a change is
one line appended to the journal (``<state>.journal``) and fsynced; the snapshot (``<state>``,
JSON, per meter) is rewritten (:func:`~wattguard.secretfile.write_secret`: 0600, write, fsync,
rename, fsync of the folder) when the device starts and whenever the journal has grown past
``compact_after`` lines, and the journal is emptied after it. Both files are 0600 from
creation, and read only if no one else can write them. Loading reads the snapshot, then
replays the journal in order; both kinds of line are idempotent (counters only move forward, a
report counter already in the window changes nothing), so a crash between a snapshot and the
journal's truncation loses nothing. A torn last line (a crash mid-append) is ignored: the
change it recorded was never relied on.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from wattguard.errors import ConfigError
from wattguard.esam.station import StationSecurity
from wattguard.secretfile import create_secret, read_secret, write_secret

__all__ = ["DeviceState"]


class DeviceState:
    """The snapshot at ``path`` and its journal (see the module docstring)."""

    def __init__(self, path: Path, *, compact_after: int = 10_000) -> None:
        self.path = path
        self.journal_path = path.with_name(path.name + ".journal")
        self.compact_after = compact_after
        self._lines = 0
        self._journal: Any = None

    def load(self, security: StationSecurity) -> set[bytes]:
        """Put the snapshot and the journal into ``security``; the meters they name. The
        snapshot is then rewritten with everything, and the journal emptied."""
        known: set[bytes] = set()
        try:
            if self.path.exists():
                for address, meter in json.loads(read_secret(self.path)).items():
                    known.add(_restore(security, bytes.fromhex(address), meter))
            if self.journal_path.exists():
                lines = read_secret(self.journal_path).decode().splitlines()
                for number, line in enumerate(lines, start=1):
                    try:
                        entry = json.loads(line)
                    except ValueError:
                        if number == len(lines):
                            break  # a torn last line: its change was never relied on
                        raise
                    known.add(_restore(security, bytes.fromhex(entry["meter"]), entry))
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            raise ConfigError(f"the device state {self.path} is damaged: {exc}") from None
        self.snapshot(security)
        return known

    def counters(self, security: StationSecurity, address: bytes) -> None:
        """Journal ``address``'s key version, command counter and top-up count."""
        version, counter, top_ups = security.counters_of(address)
        self._append(
            security,
            {"meter": address.hex(), "key_version": version, "command_counter": counter,
             "top_ups": top_ups},
        )  # fmt: skip

    def report(self, security: StationSecurity, address: bytes, counter: int, tag: bytes) -> None:
        """Journal a verified report's counter and MAC."""
        self._append(security, {"meter": address.hex(), "report": [counter, tag.hex()]})

    def snapshot(self, security: StationSecurity) -> None:
        """Rewrite the snapshot with every meter's state, durably; then empty the journal."""
        windows = security.report_windows()
        state: dict[str, dict[str, Any]] = {}
        for address, (version, counter, top_ups) in security.counters().items():
            entry: dict[str, Any] = {
                "key_version": version, "command_counter": counter, "top_ups": top_ups,
            }  # fmt: skip
            window = windows.get(address)
            if window is not None:
                highest, seen, heard = window
                entry["reports"] = {
                    "highest": highest,
                    "seen": {str(c): tag.hex() for c, tag in sorted(seen.items())},
                    "heard": heard,
                }
            state[address.hex()] = entry
        write_secret(self.path, json.dumps(state, sort_keys=True).encode())
        self.close()
        write_secret(self.journal_path, b"")
        self._lines = 0

    def close(self) -> None:
        """Close the journal (the next change opens it again)."""
        if self._journal is not None:
            self._journal.close()
            self._journal = None

    def _append(self, security: StationSecurity, entry: dict[str, Any]) -> None:
        if self._journal is None:
            create_secret(self.journal_path)  # 0600 before anything is written to it
            self._journal = open(self.journal_path, "ab")  # noqa: SIM115 (kept open)
        self._journal.write(json.dumps(entry, sort_keys=True).encode() + b"\n")
        self._journal.flush()
        os.fsync(self._journal.fileno())
        self._lines += 1
        if self._lines >= self.compact_after:
            self.snapshot(security)


def _restore(security: StationSecurity, address: bytes, entry: dict[str, Any]) -> bytes:
    """One snapshot entry or journal line into ``security``."""
    if "key_version" in entry:
        security.register(
            address,
            key_version=int(entry["key_version"]),
            command_counter=int(entry["command_counter"]),
            top_ups=int(entry["top_ups"]),
        )
    reports = entry.get("reports")
    if reports is not None:
        seen = {int(c): bytes.fromhex(t) for c, t in reports["seen"].items()}
        security.restore_reports(address, int(reports["highest"]), seen, int(reports["heard"]))
    report = entry.get("report")
    if report is not None:
        security.note_report(address, int(report[0]), bytes.fromhex(report[1]))
    return address
