"""The SQL of the station's rules and their firings (:mod:`wattguard.station.rules`), mixed into
both storage backends. A rule's condition and action are stored as the JSON
:mod:`wattguard.station.rule_spec` wrote, and read back through it: a row that no longer
parses is refused (:class:`~wattguard.station.records.InvalidRecord`), never run. A deleted
rule keeps its row (marked ``deleted``) so that its firings still name it."""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from contextlib import AbstractContextManager
from typing import Any

from wattguard.station.records import InvalidRecord, moment, text
from wattguard.station.rule_spec import (
    RuleInvalid,
    action_json,
    condition_json,
    parse_action,
    parse_condition,
)
from wattguard.station.rules import Firing, Rule

_RULE_COLUMNS = "id, name, owner, condition, action, cooldown, enabled, created, updated"
_FIRING_COLUMNS = "id, rule_id, time, subject, meters, district, evidence, outcome, command_id"


class RuleTables:
    """Rules and firings; the backend gives the connection (``_read``, ``_write``, ``_sql``)."""

    def _write(self) -> AbstractContextManager[Any]:
        raise NotImplementedError

    def _query(self, sql: str, params: Sequence[Any] = ()) -> list[Any]:
        raise NotImplementedError

    def _sql(self, sql: str) -> str:
        raise NotImplementedError

    def save_rule(self, rule: Rule) -> int:
        """Insert ``rule`` (``id`` 0: a new id is given) or update its enabled flag and time;
        its id."""
        if not isinstance(rule, Rule):
            raise InvalidRecord(f"{rule!r} is not a Rule")
        if rule.id:
            with self._write() as cur:
                cur.execute(
                    self._sql("UPDATE rules SET enabled = ?, updated = ? WHERE id = ?"),
                    (int(rule.enabled), moment(rule.updated, "updated"), int(rule.id)),
                )
            return rule.id
        if not math.isfinite(rule.cooldown) or rule.cooldown < 0:
            raise InvalidRecord(f"cooldown {rule.cooldown!r} is not a number of seconds")
        row = (
            text(rule.name, "name"), text(rule.owner, "owner"),
            json.dumps(condition_json(rule.condition)), json.dumps(action_json(rule.action)),
            float(rule.cooldown), int(rule.enabled), moment(rule.created, "created"),
            moment(rule.updated, "updated"),
        )  # fmt: skip
        with self._write() as cur:
            cur.execute(
                self._sql(
                    "INSERT INTO rules (name, owner, condition, action, cooldown, enabled, "
                    "created, updated) VALUES (?, ?, ?, ?, ?, ?, ?, ?) RETURNING id"
                ),
                row,
            )
            return int(cur.fetchone()[0])

    def delete_rule(self, rule_id: int, now: float) -> bool:
        """Mark a rule deleted (its firings stay); whether there was such a rule."""
        with self._write() as cur:
            cur.execute(
                self._sql("UPDATE rules SET deleted = ? WHERE id = ? AND deleted IS NULL"),
                (moment(now, "time"), int(rule_id)),
            )
            return bool(cur.rowcount)

    def stored_rules(self) -> list[Rule]:
        """The rules not deleted, by id."""
        sql = f"SELECT {_RULE_COLUMNS} FROM rules WHERE deleted IS NULL ORDER BY id"
        return [_rule(row) for row in self._query(sql)]

    def add_firing(self, firing: Firing) -> int:
        """Store one firing with its evidence and outcome; its id."""
        if not isinstance(firing, Firing):
            raise InvalidRecord(f"{firing!r} is not a Firing")
        row = (
            int(firing.rule_id), moment(firing.time, "time"), text(firing.subject, "subject"),
            json.dumps(list(firing.meters)), firing.district,
            json.dumps(dict(firing.evidence), allow_nan=False),
            text(firing.outcome, "outcome"), firing.command_id,
        )  # fmt: skip
        with self._write() as cur:
            cur.execute(
                self._sql(
                    "INSERT INTO rule_firings (rule_id, time, subject, meters, district, "
                    "evidence, outcome, command_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?) RETURNING id"
                ),
                row,
            )
            return int(cur.fetchone()[0])

    def firings(self, rule_id: int | None = None, limit: int = 100) -> list[Firing]:
        """Firings (of one rule, or of all), newest first."""
        sql = f"SELECT {_FIRING_COLUMNS} FROM rule_firings"
        params: list[Any] = []
        if rule_id is not None:
            sql += " WHERE rule_id = ?"
            params.append(int(rule_id))
        sql += " ORDER BY id DESC LIMIT ?"
        return [_firing(row) for row in self._query(sql, [*params, int(limit)])]

    def last_firings(self) -> list[tuple[int, str, float]]:
        """Each rule's and subject's latest firing time (the cool-downs after a restart)."""
        rows = self._query(
            "SELECT rule_id, subject, MAX(time) FROM rule_firings GROUP BY rule_id, subject"
        )
        return [(int(r), str(s), float(t)) for r, s, t in rows]


def _rule(row: Sequence[Any]) -> Rule:
    rule_id, name, owner, condition, action, cooldown, enabled, created, updated = row
    try:
        return Rule(
            int(rule_id), name, owner, parse_condition(json.loads(condition)),
            parse_action(json.loads(action)), float(cooldown), bool(enabled), float(created),
            float(updated),
        )  # fmt: skip
    except (RuleInvalid, ValueError) as exc:
        raise InvalidRecord(f"stored rule {rule_id} does not parse: {exc}") from None


def _firing(row: Sequence[Any]) -> Firing:
    firing_id, rule_id, time, subject, meters, district, evidence, outcome, command_id = row
    return Firing(
        int(rule_id), float(time), subject, json.loads(evidence), tuple(json.loads(meters)),
        district, outcome, None if command_id is None else int(command_id), int(firing_id),
    )  # fmt: skip
