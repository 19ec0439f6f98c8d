"""Every error class wattguard defines sits where the drawing in ``wattguard.errors`` puts it."""

from __future__ import annotations

import importlib
import pkgutil
import re
from dataclasses import dataclass

import pytest

import wattguard
from wattguard import errors
from wattguard.errors import WattguardError

#: ``├── Name [module] text`` (or ``└──``) after a run of ``│   `` / four-space columns.
_NODE = re.compile(
    r"^(?P<lead>(?:│   |    )*)[├└]── (?P<name>\w+)(?: +\[(?P<module>[\w.]+)\])?(?P<text>.*)$"
)
_ALSO = re.compile(r"\(also (?:an? )?(\w+)\)")


@dataclass
class Node:
    name: str
    parent: str | None
    module: str
    text: str


def drawn_tree(docstring: str) -> dict[str, Node]:
    """The drawing in ``docstring``, by class name; a name drawn twice fails."""
    lines = docstring.splitlines()
    top = next(i for i, line in enumerate(lines) if line.strip() == "WattguardError")
    margin = lines[top].index("WattguardError")
    nodes = {"WattguardError": Node("WattguardError", None, "wattguard.errors", "")}
    path = ["WattguardError"]
    last = nodes["WattguardError"]
    for line in lines[top + 1 :]:
        if not line.strip():
            break
        found = _NODE.match(line[margin:])
        if found is None:  # the description of the node above goes on
            last.text += " " + line[margin:].strip("│ ")
            continue
        depth = len(found["lead"]) // 4 + 1
        assert depth <= len(path), f"{found['name']} is drawn below no parent"
        del path[depth:]
        module = f"wattguard.{found['module']}" if found["module"] else "wattguard.errors"
        last = Node(found["name"], path[-1], module, found["text"])
        assert last.name not in nodes, f"{last.name} is drawn twice"
        nodes[last.name] = last
        path.append(last.name)
    return nodes


def defined_errors() -> list[type[WattguardError]]:
    """Every WattguardError subclass defined anywhere in wattguard (each module imported)."""
    for module in pkgutil.walk_packages(wattguard.__path__, "wattguard."):
        if module.name == "wattguard.__main__":  # running it is the command, not an import
            continue
        try:
            importlib.import_module(module.name)
        except ModuleNotFoundError as missing:  # an optional extra that is not installed
            if (missing.name or "").startswith("wattguard"):
                raise
    found: list[type[WattguardError]] = [WattguardError]
    for cls in found:
        found += [sub for sub in cls.__subclasses__() if sub not in found]
    return [cls for cls in found if cls.__module__.startswith("wattguard.")]


DRAWN = drawn_tree(errors.__doc__ or "")
DEFINED = defined_errors()


def test_the_drawing_and_the_walk_found_the_tree() -> None:
    assert len(DRAWN) > 40 and len(DEFINED) > 40
    assert {"ProtocolError", "SecurityError", "ConfigError", "CertificateError"} <= set(DRAWN)


def test_no_two_error_classes_share_a_name() -> None:
    names = [cls.__name__ for cls in DEFINED]
    twice = sorted(f"{c.__module__}.{c.__name__}" for c in DEFINED if names.count(c.__name__) > 1)
    assert twice == []


def test_every_drawn_class_exists() -> None:
    assert sorted(set(DRAWN) - {cls.__name__ for cls in DEFINED}) == []


def misplaced(cls: type[WattguardError], drawn: dict[str, Node]) -> str | None:
    """Why ``cls`` does not match the drawing, or None if it does."""
    node = drawn.get(cls.__name__)
    if node is None:
        return f"{cls.__module__}.{cls.__name__} is not in the errors.py drawing"
    if node.module != cls.__module__:
        return f"{cls.__name__} is drawn in [{node.module}] but defined in {cls.__module__}"
    bases = {base.__name__ for base in cls.__bases__ if issubclass(base, WattguardError)}
    parents = {node.parent, *_ALSO.findall(node.text)} - {None}
    parents &= set(drawn) | bases  # "(also ValueError)": a base outside the tree
    if bases != parents:
        return f"{cls.__name__} derives from {sorted(bases)}, drawn under {sorted(parents)}"
    return None


@pytest.mark.parametrize("cls", DEFINED, ids=lambda cls: cls.__name__)
def test_each_error_class_is_drawn_in_its_place(cls: type[WattguardError]) -> None:
    assert misplaced(cls, DRAWN) is None


def test_a_class_left_out_or_drawn_under_the_wrong_parent_is_caught() -> None:
    class NotDrawnError(errors.SecurityError):
        pass

    assert "not in the errors.py drawing" in str(misplaced(NotDrawnError, DRAWN))
    moved = drawn_tree(
        "    WattguardError\n"
        "    ├── SecurityError\n"
        "    ├── ConfigError\n"
        "    │   └── IntegrityError  drawn under the wrong parent\n"
    )
    assert moved["IntegrityError"].parent == "ConfigError"
    assert "drawn under ['ConfigError']" in str(misplaced(errors.IntegrityError, moved))
