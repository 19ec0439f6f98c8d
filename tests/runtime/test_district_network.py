"""A district's low-voltage network in the demo: customers on feeders, an I^2 R loss that
grows with the square of the load, and customers' voltages that move with their feeder's
flow, so that the station, given nothing but the meters' curves, infers the feeders and uses
them in the balance fit (runtime/district.py, station/analysis.py)."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import adjusted_rand_score

from wattguard.analytics.topology import infer_topology
from wattguard.runtime.deployment import Deployment, DeploymentConfig, virtual_clock
from wattguard.station.analysis import CURVE_VOLTAGE, STEP

START = 1_796_515_200  # a UTC midnight
STEPS = 96


def test_the_station_infers_a_districts_feeders_from_the_collected_voltages() -> None:
    config = DeploymentConfig(meters=16, per_terminal=16, seed=11, start=START, districts=True)
    deployment = Deployment(config, virtual_clock(config))
    deployment.run_virtual(2 * 86400 + 3 * 3600)
    (district,) = deployment.districts
    assert len(set(district.feeder.tolist())) == 3  # the simulation's record, kept apart
    assert deployment.analysis is not None
    store = deployment.analysis.store
    sources = {row.day: row.feeders for row in store.losses()}
    # the first day has too few voltages to tell feeders; from the second the fit uses them
    assert sources == {START: "none", START + 86400: "inferred"}
    customers = [meter.address.hex() for meter in district.customers]
    volts = store.grid(customers, CURVE_VOLTAGE, START, STEP, 2 * STEPS)
    # phase A voltage in every collected curve record (the first is at power-up: none)
    assert np.isfinite(volts[:, 1:]).all()
    labels = infer_topology(volts, STEPS).labels
    assert adjusted_rand_score(district.feeder, labels) >= 0.9


def test_a_districts_loss_grows_with_the_square_of_its_load() -> None:
    config = DeploymentConfig(meters=16, per_terminal=16, seed=11, start=START, districts=True)
    deployment = Deployment(config, virtual_clock(config))
    (district,) = deployment.districts
    deployment.run_virtual(86400 + 600)  # the first day calibrates the resistance
    light = np.full(16, 100.0)  # W each: a night
    heavy = light * 10  # the evening peak
    night, peak = district.loss_power(light), district.loss_power(heavy)
    no_load = district.loss_power(np.zeros(16))
    assert 0 < no_load < night
    # I^2 R: ten times the flow, a hundred times the load-dependent loss
    assert (peak - no_load) / (night - no_load) == pytest.approx(100.0)
    assert peak / heavy.sum() > 2 * night / light.sum()  # the loss *rate* grows with the load
