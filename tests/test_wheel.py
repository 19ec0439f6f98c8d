"""The package as a user gets it: a wheel, installed into a fresh virtual environment, runs
``wattguard selfcheck`` and serves the dashboard from the installed files alone; built on a
machine with a C compiler it carries the compiled decoder, built on one without it carries the
pure-Python decoder and still works."""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import urllib.request
import venv
import zipfile
from pathlib import Path

import pytest

from wattguard.testing.services import free_port

ROOT = Path(__file__).resolve().parents[1]
#: What a clean checkout does not hold: caches, environments, builds, compiled objects.
NOT_SOURCE = shutil.ignore_patterns(
    ".git", ".venv", "__pycache__", "*.pyc", "*.so", "build", "dist", "*.egg-info", ".*_cache",
    ".hypothesis", "tests", "bench",
)  # fmt: skip


def _clean_env() -> dict[str, str]:
    """The environment without anything that would point Python at the source tree."""
    return {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME")}


@pytest.mark.slow
@pytest.mark.parametrize("compiler", [True, False], ids=["with-compiler", "without-compiler"])
def test_the_wheel_installs_into_a_fresh_venv_and_runs_alone(
    tmp_path: Path, compiler: bool
) -> None:
    source = tmp_path / "source"
    shutil.copytree(ROOT, source, ignore=NOT_SOURCE)
    wheels = tmp_path / "wheels"
    build_env = _clean_env()
    if not compiler:  # a compiler that does not exist: the optional extension is skipped
        build_env |= {"CC": str(tmp_path / "no-such-cc"), "LDSHARED": str(tmp_path / "no-such-cc")}
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", str(source), "--no-deps", "-q", "-w", str(wheels)],
        check=True, timeout=600, env=build_env,
    )  # fmt: skip
    (wheel,) = wheels.glob("wattguard-*.whl")

    # every data file of the package is in the wheel (the C source builds _accel; not data)
    with zipfile.ZipFile(wheel) as archive:
        shipped = set(archive.namelist())
    package = source / "src"
    data = {
        p.relative_to(package).as_posix()
        for p in (package / "wattguard").rglob("*")
        if p.is_file() and p.suffix not in (".py", ".c")
    }
    assert data, "the package has data files"
    assert data <= shipped, f"not in the wheel: {sorted(data - shipped)}"
    accel = "wattguard/protocol/_accel."
    compiled = any(n.startswith(accel) and n.endswith(".so") for n in shipped)
    assert compiled is compiler, sorted(n for n in shipped if "_accel" in n)

    env = tmp_path / "venv"
    venv.EnvBuilder(with_pip=True, system_site_packages=False).create(env)
    python, wattguard = env / "bin" / "python", env / "bin" / "wattguard"
    subprocess.run(
        [str(python), "-m", "pip", "install", "-q", str(wheel)],
        check=True, timeout=1200, env=_clean_env(),
    )  # fmt: skip
    away = tmp_path / "elsewhere"  # not the source tree: nothing can be read from it
    away.mkdir()
    where = subprocess.run(
        [str(python), "-c", "import wattguard; print(wattguard.__file__)"],
        capture_output=True, text=True, check=True, cwd=away, env=_clean_env(),
    ).stdout.strip()  # fmt: skip
    assert Path(where).is_relative_to(env), where
    probe = "from wattguard.protocol import _accelerate as a; print(a.ACTIVE, a.REASON)"
    decoder = subprocess.run(
        [str(python), "-c", probe],
        capture_output=True, text=True, check=True, cwd=away, env=_clean_env(),
    ).stdout.strip()  # fmt: skip
    assert decoder.startswith(str(compiler)), decoder

    check = subprocess.run(
        [str(wattguard), "selfcheck"],
        capture_output=True, text=True, timeout=120, cwd=away, env=_clean_env(),
    )  # fmt: skip
    assert check.returncode == 0 and "crypto self-check passed" in check.stdout, check.stdout

    port = free_port()
    demo = subprocess.Popen(
        [str(wattguard), "demo", "--meters", "3", "--api-port", str(port), "--duration", "120"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=away,
        env={**_clean_env(), "PYTHONUNBUFFERED": "1"},
    )  # fmt: skip
    try:
        assert demo.stdout is not None
        seen = []
        for line in demo.stdout:
            seen.append(line)
            if "dashboard on" in line or len(seen) > 50:
                break
        assert re.search(rf"dashboard on http://127\.0\.0\.1:{port}/", "".join(seen)), seen
        base = f"http://127.0.0.1:{port}"
        with urllib.request.urlopen(f"{base}/", timeout=10) as page:
            index = page.read()
        dashboard = source / "src/wattguard/station/dashboard"
        assert index == (dashboard / "index.html").read_bytes()
        with urllib.request.urlopen(f"{base}/dashboard/vendor/uPlot.iife.min.js", timeout=10) as js:
            assert js.read() == (dashboard / "vendor/uPlot.iife.min.js").read_bytes()
    finally:
        demo.send_signal(signal.SIGINT)
        try:
            demo.wait(timeout=30)
        except subprocess.TimeoutExpired:
            demo.kill()
            demo.wait()
        if demo.stdout is not None:
            demo.stdout.close()
