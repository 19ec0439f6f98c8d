"""Every public class of wattguard says what it is for (CONVENTIONS.md: public classes get
docstrings).

The test imports every module of the package, takes each public class the module defines
(``cls.__module__`` is the module, the name does not start with ``_``) and fails naming those
whose docstring is missing. A docstring counts only if the class states it itself: Python does
not inherit ``__doc__``, and the text that ``dataclasses`` and ``NamedTuple`` write for an
undocumented class (``"Name(field: type, ...)"``), or that ``enum`` writes on some Python
versions (``"An enumeration."``), says nothing the code does not.
"""

from __future__ import annotations

import dataclasses
import enum
import importlib
import pkgutil
from functools import cache
from types import ModuleType
from typing import NamedTuple, Protocol

import pytest

import wattguard
from wattguard.testing.services import require

#: Packages and modules the walk skips (none: every public class is checked).
PENDING: frozenset[str] = frozenset()

#: Modules that cannot be imported to be looked at, and why.
NOT_IMPORTED = {"wattguard.__main__": "importing it runs the command line"}

#: Third-party packages some modules import that only the optional extras install.
OPTIONAL = {"psycopg": "postgres", "nats": "nats", "dlt698": "interop"}

#: A layer of the package that the walk must reach (DESIGN.md's layer table).
LAYERS = ("crypto", "protocol", "esam", "cipher", "station", "attacks", "meter", "network")


def _pending(name: str) -> bool:
    return any(name == prefix or name.startswith(prefix + ".") for prefix in PENDING)


@cache
def module_names() -> tuple[str, ...]:
    """Every module and package of wattguard, as pkgutil finds them on disk."""
    walked = pkgutil.walk_packages(wattguard.__path__, "wattguard.", onerror=lambda name: None)
    return ("wattguard", *sorted(info.name for info in walked))


def _import(name: str) -> ModuleType:
    """The module, or a skip naming the optional extra it needs (a failure under CI)."""
    try:
        return importlib.import_module(name)
    except ModuleNotFoundError as exc:
        top = (exc.name or "").partition(".")[0]
        if top not in OPTIONAL:
            raise
        require(False, f"{name} needs {top}, from the '{OPTIONAL[top]}' extra, not installed")
        raise  # not reached: require skipped or failed


def public_classes(module: ModuleType) -> list[type]:
    """The public classes ``module`` defines itself (not those it imports)."""
    found = {
        id(value): value
        for value in vars(module).values()
        if isinstance(value, type)
        and value.__module__ == module.__name__
        and not value.__name__.startswith("_")
    }
    return sorted(found.values(), key=lambda cls: cls.__name__)


def undocumented(cls: type) -> bool:
    """Whether ``cls`` lacks a docstring of its own."""
    doc = cls.__dict__.get("__doc__")
    if not isinstance(doc, str) or not doc.strip():
        return True
    text = doc.strip()
    return text.startswith(cls.__name__ + "(") or text == "An enumeration."


@pytest.mark.parametrize(
    "name", [name for name in module_names() if not _pending(name) and name not in NOT_IMPORTED]
)
def test_public_classes_have_docstrings(name: str) -> None:
    module = _import(name)
    missing = [cls.__qualname__ for cls in public_classes(module) if undocumented(cls)]
    assert missing == [], f"{name}: public classes without a docstring: {', '.join(missing)}"


def test_the_walk_reaches_every_layer() -> None:
    names = module_names()
    for layer in LAYERS:
        assert any(name.startswith(f"wattguard.{layer}.") for name in names), layer
    checked = [n for n in names if not _pending(n) and n not in NOT_IMPORTED]
    classes = 0
    for name in checked:
        try:
            classes += len(public_classes(importlib.import_module(name)))
        except ModuleNotFoundError:
            continue  # an optional extra is missing: the module's own test says so
    assert classes > 200, f"only {classes} public classes found outside PENDING"


def test_pending_and_not_imported_name_real_modules() -> None:
    names = set(module_names())
    stale = sorted(prefix for prefix in PENDING | NOT_IMPORTED.keys() if prefix not in names)
    assert stale == [], f"no such module or package: {stale}"


class _Documented:
    """Says what it is for."""


class _Undocumented(_Documented):
    pass


@dataclasses.dataclass(frozen=True)
class _Record:
    field: int


class _Pair(NamedTuple):
    left: int
    right: int


class _Colour(enum.Enum):
    RED = 1


class _Sink(Protocol):
    def record(self, event: object) -> None: ...


class _Failure(Exception):
    pass


@pytest.mark.parametrize("cls", [_Undocumented, _Record, _Pair, _Colour, _Sink, _Failure])
def test_generated_or_inherited_text_is_no_docstring(cls: type) -> None:
    assert undocumented(cls)


def test_a_module_needing_a_missing_extra_is_skipped_with_the_reason(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def missing(name: str) -> ModuleType:
        raise ModuleNotFoundError(f"No module named {name!r}", name=name)

    monkeypatch.setattr(importlib, "import_module", lambda name: missing("nats.aio"))
    # a skip on a developer's machine; a failure under WATTGUARD_REQUIRE_SERVICES=1 (CI)
    with pytest.raises((pytest.skip.Exception, pytest.fail.Exception), match="'nats' extra"):
        _import("wattguard.runtime.natsbus")
    monkeypatch.setattr(importlib, "import_module", lambda name: missing("wattguard.gone"))
    with pytest.raises(ModuleNotFoundError):
        _import("wattguard.gone")


def test_a_docstring_of_its_own_counts() -> None:
    assert not undocumented(_Documented)
    events = importlib.import_module("wattguard.events")
    assert len(public_classes(events)) >= 3  # EventKind, SecurityEvent, EventSink, EventLog
