"""Clear-sky solar irradiance on a horizontal plane, for the rooftop PV of the load models.

Theory of operation. The sun's position follows from the day of the year and the clock time:
Spencer's Fourier series give the declination and the equation of time; the clock time is
turned into apparent solar time with the equation of time and four minutes per degree between
the site's longitude and the standard meridian of the clock's zone; the hour angle then gives
the cosine of the solar zenith angle. Global horizontal irradiance under a clear sky follows
Haurwitz's model, which needs nothing but the zenith angle and, in Sandia's comparison of
clear-sky models, does as well as models with atmospheric inputs for global irradiance.

Clocks here show local civil time with calendar fields read as UTC, as the meter's clock and
:class:`~wattguard.meter.expansion.module.TariffSchedule` do.

Sources (facts, not code): J. W. Spencer (1971), "Fourier series representation of the position
of the sun", Search 2(5):172 (declination, equation of time); B. Haurwitz (1945), "Insolation in
relation to cloudiness and cloud density", J. Meteorology 2:154-166 (GHI = 1098 cos z
exp(-0.057 / cos z) W/m^2); M. J. Reno, C. W. Hansen, J. S. Stein (2012), "Global horizontal
irradiance clear sky models: implementation and analysis", SAND2012-2389.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from wattguard.errors import ConfigError

__all__ = ["Site", "clear_sky_ghi"]

_DAY = 86_400.0


@dataclass(frozen=True, slots=True)
class Site:
    """Where the meters are: latitude and longitude in degrees (north and east positive) and
    the standard meridian of the zone the clocks keep (120 E for China Standard Time). The
    default is Shanghai."""

    latitude: float = 31.23
    longitude: float = 121.47
    meridian: float = 120.0

    def __post_init__(self) -> None:
        if not (-90.0 <= self.latitude <= 90.0 and -180.0 <= self.longitude <= 180.0):
            raise ConfigError("a site lies at latitude -90..90 and longitude -180..180")


def cos_zenith(site: Site, clock: NDArray[np.float64]) -> NDArray[np.float64]:
    """Cosine of the solar zenith angle at the clock times (POSIX seconds of local time)."""
    days_into_year = np.floor(clock / _DAY) - _first_day_of_year(clock)  # 0 on 1 January
    hours = (clock % _DAY) / 3600.0
    gamma = 2.0 * math.pi / 365.0 * (days_into_year + (hours - 12.0) / 24.0)
    declination = (
        0.006918
        - 0.399912 * np.cos(gamma)
        + 0.070257 * np.sin(gamma)
        - 0.006758 * np.cos(2 * gamma)
        + 0.000907 * np.sin(2 * gamma)
        - 0.002697 * np.cos(3 * gamma)
        + 0.00148 * np.sin(3 * gamma)
    )
    equation_of_time = 229.18 * (  # minutes
        0.000075
        + 0.001868 * np.cos(gamma)
        - 0.032077 * np.sin(gamma)
        - 0.014615 * np.cos(2 * gamma)
        - 0.040849 * np.sin(2 * gamma)
    )
    solar_minutes = hours * 60.0 + equation_of_time + 4.0 * (site.longitude - site.meridian)
    hour_angle = np.radians(solar_minutes / 4.0 - 180.0)
    latitude = math.radians(site.latitude)
    result: NDArray[np.float64] = math.sin(latitude) * np.sin(declination) + math.cos(
        latitude
    ) * np.cos(declination) * np.cos(hour_angle)
    return result


def clear_sky_ghi(site: Site, clock: NDArray[np.float64]) -> NDArray[np.float64]:
    """Haurwitz clear-sky global horizontal irradiance (W/m^2) at the clock times; 0 at
    night."""
    cz = cos_zenith(site, np.asarray(clock, dtype=np.float64))
    up = np.maximum(cz, 1e-6)
    ghi: NDArray[np.float64] = np.where(cz > 0.0, 1098.0 * up * np.exp(-0.057 / up), 0.0)
    return ghi


def _first_day_of_year(clock: NDArray[np.float64]) -> NDArray[np.float64]:
    """Days from 1970-01-01 to 1 January of each time's year."""
    days = np.floor(clock / _DAY).astype(np.int64).astype("datetime64[D]")
    first = days.astype("datetime64[Y]").astype("datetime64[D]").astype(np.int64)
    return first.astype(np.float64)
