"""wattguard.analytics: the master station's energy services as computations over numpy arrays.

One module per service, each sans-IO (no database, socket or clock inside; the station's job
reads the arrays from storage and stores the results):

* :mod:`~wattguard.analytics.consumption`: daily and monthly energy, load curves, time-of-use
  split, maximum demand, load factor, base load, typical days, period change, top-N;
* :mod:`~wattguard.analytics.clustering`: load-profile clustering with named clusters;
* :mod:`~wattguard.analytics.lineloss`: the daily line-loss rate per district, abnormal-loss
  alerts, and each customer meter's error estimated from the district balance;
* :mod:`~wattguard.analytics.anomaly`: theft and anomaly scores per meter;
* :mod:`~wattguard.analytics.injection`: the false-data injections (Jokar et al. 2016) and
  ranking figures used to evaluate the scores.
* :mod:`~wattguard.analytics.forecast`: the day-ahead load forecast, its seasonal-naive
  baselines, MASE and MAPE on rolling origins;
* :mod:`~wattguard.analytics.charging`: orderly EV charging behind a transformer as a linear
  program (HiGHS), re-planning, and the uncontrolled and valley-first baselines;
* :mod:`~wattguard.analytics.tariff`: the bill under each offered tariff and the cheapest, and
  the demand-response curtailment with the least curtailed comfort.

Each keeps an incremental form (a state that takes one more day) beside the batch functions.
docs/analytics.md gives the methods and the figures measured.
"""

from wattguard.analytics._arrays import AnalysisInputError
from wattguard.analytics.anomaly import score_meters
from wattguard.analytics.clustering import cluster_profiles
from wattguard.analytics.lineloss import estimate_meter_errors

__all__ = ["AnalysisInputError", "cluster_profiles", "estimate_meter_errors", "score_meters"]
