"""Checking a command's argument text (:mod:`wattguard.station.command_kinds` and the kinds
that live in modules of their own, e.g. :mod:`wattguard.station.freeze_objects`): each check
returns the value or raises :class:`BadArgument` saying what is wrong (the API answers 400)."""

from __future__ import annotations

import json
import string
from typing import Any

from wattguard.protocol import OAD
from wattguard.station.commands import CommandRefused

__all__ = ["BadArgument", "json_object", "oad_argument", "whole_number"]


class BadArgument(CommandRefused):
    """A command's argument is not what its kind takes; ``reason`` says what is wrong."""


def json_object(argument: str, keys: set[str], required: set[str]) -> dict[str, Any]:
    """``argument`` as a JSON object of ``keys`` at most, ``required`` among them."""
    try:
        value = json.loads(argument)
    except ValueError:
        raise BadArgument("the argument is a JSON object") from None
    if not isinstance(value, dict):
        raise BadArgument("the argument is a JSON object")
    unknown, missing = set(value) - keys, required - set(value)
    if unknown:
        raise BadArgument(f"unknown field(s): {', '.join(sorted(unknown))}")
    if missing:
        raise BadArgument(f"missing field(s): {', '.join(sorted(missing))}")
    return value


def whole_number(value: object, name: str, low: int, high: int) -> int:
    """``value`` if it is an integer (not a bool) from ``low`` to ``high``."""
    if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
        raise BadArgument(f"{name} is a whole number, {low} to {high}")
    return value


def oad_argument(text: object) -> OAD:
    """The OAD written as eight hex digits (e.g. ``00100200``)."""
    if not isinstance(text, str) or len(text) != 8 or not set(text) <= set(string.hexdigits):
        raise BadArgument(f"an object is an OAD, 8 hex digits (e.g. 00100200), not {text!r:.20}")
    return OAD.parse(text)
