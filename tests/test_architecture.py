"""The layers of docs/architecture.md, enforced: imports go downward, and no import cycle.

Every ``import wattguard.x`` / ``from wattguard.x import ...`` anywhere in a module counts
(at the top, under ``TYPE_CHECKING``, or inside a function): a lower layer must not know a
higher one even lazily. Peers on one layer (``meter`` and ``network``) do not import each
other. The table below is the one in docs/architecture.md; a test checks that the two agree.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

import wattguard

SRC = Path(wattguard.__file__).parent
DOC = Path(__file__).parents[1] / "docs" / "architecture.md"

#: Layer of each part of the package: a module may import only parts on lower layers (and
#: its own part). Keep in step with the table in docs/architecture.md.
LAYERS: dict[str, int] = {
    "errors": 0,
    "clock": 1,
    "events": 1,
    "sansio": 1,
    "settings": 1,
    "analytics": 1,
    "secretfile": 1,
    "wattguard": 2,  # the package's own __init__: the public surface of the base layer
    "crypto": 2,
    "protocol": 3,
    "randomness": 3,
    "esam": 4,
    "meter": 5,
    "network": 5,
    "simulation": 6,
    "cipher": 6,
    "station": 7,
    "runtime": 8,
    "testing": 9,
    "attacks": 10,
    "cli": 11,
    "__main__": 12,
}


def _modules() -> dict[str, Path]:
    out = {}
    for path in SRC.rglob("*.py"):
        parts = ("wattguard", *path.relative_to(SRC).with_suffix("").parts)
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        out[name] = path
    return out


MODULES = _modules()
#: Compiled extensions (their stubs show where they are): they import nothing of ours.
EXTENSIONS = {
    ".".join(("wattguard", *path.relative_to(SRC).with_suffix("").parts))
    for path in SRC.rglob("*.pyi")
}


def _part(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "wattguard"


def _imports(module: str) -> Iterator[tuple[int, str]]:
    """(line, imported wattguard module) for every import in ``module``."""
    tree = ast.parse(MODULES[module].read_text(encoding="utf-8"))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.split(".")[0] == "wattguard":
                    yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            if node.module.split(".")[0] != "wattguard":
                continue
            for alias in node.names:
                sub = f"{node.module}.{alias.name}"
                yield node.lineno, sub if sub in MODULES or sub in EXTENSIONS else node.module


def test_every_part_has_a_layer() -> None:
    parts = {_part(module) for module in MODULES}
    assert parts - LAYERS.keys() == set(), "add the new part to LAYERS and the architecture doc"


@pytest.mark.parametrize("module", sorted(MODULES))
def test_imports_go_downward(module: str) -> None:
    own = _part(module)
    wrong = [
        f"line {line}: {target} ({_part(target)}, layer {LAYERS[_part(target)]})"
        for line, target in _imports(module)
        if _part(target) != own and LAYERS[_part(target)] >= LAYERS[own]
    ]
    assert wrong == [], f"{module} ({own}, layer {LAYERS[own]}) imports upward or sideways"


def test_no_import_cycle() -> None:
    graph = {
        module: {target for _, target in _imports(module) if target in MODULES and target != module}
        for module in MODULES
    }
    assert sum(len(targets) for targets in graph.values()) > 500  # the walk saw the imports
    cycles = _cycles(graph)
    assert cycles == [], f"import cycles: {cycles}"


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    for root in sorted(graph):
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph[child]))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(sorted(component))
    return found


def test_cycle_finder_finds_a_cycle() -> None:
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert _cycles(graph) == [["a", "b", "c"]]
    assert _cycles({"a": {"b"}, "b": set()}) == []


def test_the_architecture_doc_shows_the_same_layers() -> None:
    text = DOC.read_text(encoding="utf-8")
    rows = re.findall(r"^\|\s*(\d+)\s*\|([^|]+)\|", text, flags=re.MULTILINE)
    documented = {
        name.strip(" `").removeprefix("wattguard.") or "wattguard": int(layer)
        for layer, names in rows
        for name in names.split(",")
    }
    assert documented == LAYERS
