"""The SQL of the orderly-charging jobs' state (:mod:`wattguard.station.charging_state`), mixed
into both storage backends: one row per district, the job's state as the JSON
:func:`~wattguard.station.charging_state.dump` wrote (sessions, horizon, forecast, what was
measured), replaced at each save."""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from contextlib import AbstractContextManager
from typing import Any

from wattguard.station.records import InvalidRecord

#: The largest state kept per district (bytes of JSON): a day of 96 intervals and a few
#: hundred sessions fit well within it.
MAX_STATE = 4_000_000


class ChargingTables:
    """The jobs' saved states; the backend gives the connection (``_write``, ``_query``)."""

    def _write(self) -> AbstractContextManager[Any]:
        raise NotImplementedError

    def _query(self, sql: str, params: Sequence[Any] = ()) -> list[Any]:
        raise NotImplementedError

    def _sql(self, sql: str) -> str:
        raise NotImplementedError

    def save_charging(self, district: str, saved_at: float, state: dict[str, Any]) -> None:
        """Keep ``district``'s job state (a JSON-ready dict), replacing the one before."""
        if not isinstance(district, str) or not 0 < len(district) <= 64:
            raise InvalidRecord(f"{district!r} is no district name")
        if not math.isfinite(saved_at):
            raise InvalidRecord("a charging state is saved at a finite time")
        body = json.dumps(state, separators=(",", ":"), allow_nan=False)
        if len(body) > MAX_STATE:
            raise InvalidRecord(f"the charging state of {district} is over {MAX_STATE} bytes")
        with self._write() as cur:
            cur.execute(
                self._sql(
                    "INSERT INTO charging_state (district, saved_at, state) VALUES (?, ?, ?) "
                    "ON CONFLICT (district) DO UPDATE SET saved_at = excluded.saved_at, "
                    "state = excluded.state"
                ),
                (district, float(saved_at), body),
            )

    def charging_states(self) -> dict[str, tuple[float, dict[str, Any]]]:
        """Every district's saved job state: {district: (saved at, state)}; a row that does
        not parse is left out (the job then starts afresh)."""
        out: dict[str, tuple[float, dict[str, Any]]] = {}
        for district, saved_at, body in self._query(
            "SELECT district, saved_at, state FROM charging_state ORDER BY district"
        ):
            try:
                state = json.loads(body)
            except ValueError:
                continue
            if isinstance(state, dict):
                out[str(district)] = (float(saved_at), state)
        return out
