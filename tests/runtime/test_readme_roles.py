"""The README's "Each role as its own process", run as written (issue #14's blocker): the shell
block is taken from README.md and run by bash, its own NATS server included, with the station
on PostgreSQL. Only the ports (free ones, so that runs do not collide) and the database (a
schema of its own) are replaced, and ``wattguard`` is this interpreter's. The station must
learn the terminal's meters from what it reports: the API lists them, counts them, reads one,
and a trip of one is carried out."""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import wattguard
from wattguard.testing.services import NATS_SERVER, free_port, require
from wattguard.testing.storage import Backend

README = Path(__file__).resolve().parents[2] / "README.md"
TERMINAL = "990000000001"
METERS = 25


def readme_block() -> str:
    """The shell block of the README's "Each role as its own process"."""
    text = README.read_text(encoding="utf-8")
    section = text[text.index("### Each role as its own process") :]
    found = re.search(r"```sh\n(.*?)```", section, re.DOTALL)
    assert found is not None, "the section has no ```sh block"
    return found.group(1)


def _replace(script: str, old: str, new: str) -> str:
    assert old in script, f"the README's block no longer has {old!r}"
    return script.replace(old, new)


def _script(database: str, nats: int, cipher: int, fep: int) -> str:
    script = readme_block()
    activate = re.search(r"^\. \.venv/bin/activate.*$", script, re.MULTILINE)
    assert activate is not None, "the README no longer says how to put wattguard on PATH"
    script = script.replace(activate.group(0), 'wattguard() { "$WG_PYTHON" -m wattguard "$@"; }')
    script = _replace(script, "127.0.0.1:4223", f"127.0.0.1:{nats}")
    script = _replace(script, "127.0.0.1:8766", f"127.0.0.1:{cipher}")
    script = _replace(script, "127.0.0.1:8765", f"127.0.0.1:{fep}")
    script = _replace(script, "DB=postgresql://localhost/wattguard", f"DB='{database}'")
    return "set -e\n" + script + "wait\n"


def _call(url: str, token: str, body: dict[str, Any] | None = None) -> Any:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(
        url, data=data, headers={"Authorization": f"Bearer {token}",
                                 "Content-Type": "application/json"},
    )  # fmt: skip
    with urllib.request.urlopen(request, timeout=10) as answer:
        return json.loads(answer.read())


@pytest.fixture
def postgres(tmp_path: Path) -> Iterator[str]:
    backend = Backend("postgresql", tmp_path)
    try:
        yield backend.url
    finally:
        backend.cleanup()


def _until(test: Any, seconds: float, log: Path) -> Any:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        said = log.read_text()
        if "[FTL]" in said or re.search(r"^wattguard: ", said, re.MULTILINE):
            pytest.fail(f"a process failed; they said:\n{said[-4000:]}")
        try:
            value = test()
        except (OSError, urllib.error.URLError, ValueError):
            value = None
        if value:
            return value
        time.sleep(1.0)
    pytest.fail(f"gave up after {seconds:.0f} s; the processes said:\n{log.read_text()[-4000:]}")


def test_the_readme_separate_roles_on_postgresql(tmp_path: Path, postgres: str) -> None:
    require(os.access(NATS_SERVER, os.X_OK), f"no nats-server binary at {NATS_SERVER}")
    try:
        import nats  # noqa: F401
        import nkeys  # noqa: F401
    except ImportError:
        require(False, "nats-py and nkeys are not installed (the 'nats' extra)")
    api_port = free_port()
    script = _script(postgres, free_port(), free_port(), free_port())
    log = tmp_path / "output.log"
    env = {
        **os.environ,
        "WG_PYTHON": sys.executable,
        # this checkout's wattguard, whatever the working directory
        "PYTHONPATH": os.pathsep.join(
            [str(Path(wattguard.__file__).parents[1]), os.environ.get("PYTHONPATH", "")]
        ),
        "PYTHONUNBUFFERED": "1",
        "PATH": f"{os.path.dirname(NATS_SERVER)}:{os.environ.get('PATH', '')}",
        "WATTGUARD_STATION_API_PORT": str(api_port),
    }
    with log.open("w") as out:
        shell = subprocess.Popen(
            ["bash", "-c", script], cwd=tmp_path, env=env, stdout=out,
            stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
    try:
        lines = _until(lambda: "otto's token" in log.read_text() and log.read_text(), 60, log)
        token = lines.split("otto's token", 1)[1].splitlines()[1].strip()
        api = f"http://127.0.0.1:{api_port}"
        # the station learns the terminal's meters from its first verified answers
        _until(lambda: _call(f"{api}/api/summary", token)["meters"] == METERS, 150, log)
        meters = _call(f"{api}/api/meters", token)
        expected = [f"{TERMINAL[-6:]}{i:06d}" for i in range(1, METERS + 1)]
        assert meters == [
            {"address": a, "terminal": TERMINAL, "relay": "unknown"} for a in expected
        ]
        summary = _call(f"{api}/api/summary", token)
        assert summary["readings_stored"] > 0 and summary["verified"] > 0
        assert summary["security_events"] == 0, log.read_text()[-4000:]
        readings = _call(f"{api}/api/meters/{expected[0]}/readings", token)["readings"]
        assert readings and {r["meter"] for r in readings} == {expected[0]}
        command = _call(f"{api}/api/commands", token, {"kind": "trip", "meters": [expected[3]]})
        assert command["state"] in ("approved", "sent", "done"), command
        done = _until(
            lambda: (c := _call(f"{api}/api/commands/{command['id']}", token))["state"]
            in ("done", "failed") and c,
            90, log,
        )  # fmt: skip
        assert done["state"] == "done" and done["results"] == {expected[3]: "ok"}, done
        assert _call(f"{api}/api/meters/{expected[3]}", token)["relay"] == "tripped"
        # an on-demand read, waited for: the meter's own word, through the terminal, now
        asked = {"object": "80000200", "wait": 8}
        read = _call(f"{api}/api/meters/{expected[3]}/reads", token, asked)
        assert read["state"] == "done" and read["value"] == 2, read  # 2: tripped
        assert shell.poll() is None, log.read_text()[-4000:]
    finally:
        # bash's background jobs ignore SIGINT: stop the whole group as a service manager does
        with contextlib.suppress(ProcessLookupError):
            os.killpg(shell.pid, signal.SIGTERM)
        try:
            shell.wait(timeout=15)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(shell.pid, signal.SIGKILL)
            shell.wait()
        time.sleep(1.0)  # let the station's connections close before the schema is dropped
