"""wattguard.simulation: what the world does to meters. Load models (the BDEW standard
profiles, rooftop PV under a clear sky, shops, EV chargers), fleets of assembled meters stepped
through virtual time, profile-mode fleets whose registers are columns, lazy fleets that answer
terminals' frames under their ESAM's MAC (and a terminal's network mixing them with assembled
meters), and sampled waveforms for waveform mode. It sits above ``wattguard.meter``: a meter
is handed its load and never imports the simulation."""

from wattguard.simulation.fleet import LoadSource, MeterFleet
from wattguard.simulation.fleet_net import FleetNet
from wattguard.simulation.lazy_fleet import LazyFleet
from wattguard.simulation.lazy_server import LazyServer
from wattguard.simulation.profile import DEFAULT_MIX, LoadClass, LoadModel
from wattguard.simulation.profile_fleet import BlockLoad, ProfileFleet
from wattguard.simulation.solar import Site, clear_sky_ghi
from wattguard.simulation.waveform import Waveform

__all__ = [
    "DEFAULT_MIX",
    "BlockLoad",
    "FleetNet",
    "LazyFleet",
    "LazyServer",
    "LoadClass",
    "LoadModel",
    "LoadSource",
    "MeterFleet",
    "ProfileFleet",
    "Site",
    "Waveform",
    "clear_sky_ghi",
]
