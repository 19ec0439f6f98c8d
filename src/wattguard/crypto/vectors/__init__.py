"""Published known-answer vectors, kept as data files with a ``# source:`` line per case."""

from __future__ import annotations

from importlib import resources

from wattguard.errors import ConfigError

__all__ = ["Vector", "load", "parse"]


class Vector(dict[str, str]):
    """One case: hex (or ``*_ascii``) values by name, and where the case comes from."""

    source: str

    def bytes(self, name: str) -> bytes:
        """The value as bytes: ``name_ascii`` is taken literally, ``name`` as hex."""
        if f"{name}_ascii" in self:
            return self[f"{name}_ascii"].encode("ascii")
        return bytes.fromhex(self[name])

    def int(self, name: str) -> int:
        value = self[name]
        return int(value) if value.isdigit() and len(value) < 16 else int(value, 16)


def load(name: str) -> list[Vector]:
    """Read ``vectors/<name>.txt`` shipped with the package."""
    text = resources.files(__package__).joinpath(f"{name}.txt").read_text(encoding="utf-8")
    return parse(text, name)


def parse(text: str, name: str = "<text>") -> list[Vector]:
    """Parse blank-line-separated ``key = value`` cases; every case must name its source."""
    cases: list[Vector] = []
    for block in text.split("\n\n"):
        case = Vector()
        source = ""
        for line in block.splitlines():
            line = line.strip()
            if line.startswith("# source:"):
                source = line[len("# source:") :].strip()
            elif line and not line.startswith("#"):
                key, sep, value = line.partition("=")
                if not sep:
                    raise ConfigError(f"{name}: not a 'key = value' line: {line!r}")
                case[key.strip()] = value.strip()
        if case:
            if not source:
                raise ConfigError(f"{name}: a case has no '# source:' line")
            case.source = source
            cases.append(case)
    return cases
