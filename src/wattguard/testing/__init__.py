"""What the tests and the attack harness share: the standard test world, test clients and
fixtures, so that a test and an attack drive the system the same way.

The standard world (this module): the start time :data:`T0`, a meter :data:`ADDRESS` and its
neighbour :data:`OTHER`, a household's load :data:`HOUSE`, and :func:`seeded` randomness.

Modules that use only wattguard (the attack harness imports these):

* :mod:`wattguard.testing.meter`: :class:`~wattguard.testing.meter.Line`, a DL/T 698.45
  client on a meter's power line, and a meter that has run for an hour;
* :mod:`wattguard.testing.esam`: fixed test keys, a provisioned ESAM with its station, a meter
  with the ESAM fitted;
* :mod:`wattguard.testing.wan`: a small utility PKI and WAN channel pairs with a pump;
* :mod:`wattguard.testing.deployment`: virtual deployments with data in them;
* :mod:`wattguard.testing.files`: :func:`~wattguard.testing.files.watch_modes`, which sees a
  folder's file modes at every file operation, as a local user polling it would;
* :mod:`wattguard.testing.processes`: wattguard's roles as child processes, started and stopped
  as a user would;
* :mod:`wattguard.testing.datasets`: the public data sets inside the bench extra's wheels.

Modules for tests only, because they import the dev-only dependencies pytest or Hypothesis
(``import wattguard.testing`` itself never does):

* :mod:`wattguard.testing.services` (pytest): :func:`~wattguard.testing.services.require`,
  which skips a test whose outside service is missing, or fails it in CI;
* :mod:`wattguard.testing.storage` (pytest): one database per test on each storage backend;
* :mod:`wattguard.testing.browser` (pytest): the station served live, and headless Chromium;
* :mod:`wattguard.testing.strategies` (Hypothesis): strategies for DL/T 698.45 values, link
  frames and every APDU service.

This package sits high in the layers: it may import anything but :mod:`wattguard.cli`, and
nothing below :mod:`wattguard.attacks` imports it.
"""

from __future__ import annotations

from wattguard.meter.metering.module import Measurement
from wattguard.randomness import seeded

__all__ = ["ADDRESS", "DAY", "HOUSE", "MIDNIGHT", "OTHER", "T0", "seeded"]

#: The standard start time: Monday 2026-09-21 14:13:20 UTC.
T0 = 1_790_000_000.0
DAY = 86_400.0
#: The midnight (UTC) that starts T0's day, for runs that want whole days.
MIDNIGHT = T0 - T0 % DAY
#: The standard meter, and another one.
ADDRESS = bytes.fromhex("000000000001")
OTHER = bytes.fromhex("000000000002")
#: A household's load, as the metering module measures it.
HOUSE = Measurement(voltage=229.5, current=8.7, active_power=1900.0, reactive_power=400.0)
