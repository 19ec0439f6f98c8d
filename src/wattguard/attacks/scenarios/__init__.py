"""The scenarios; importing this package registers them all (every module in it is imported,
so adding a scenario module needs no edit here)."""

import importlib
import pkgutil

__all__: list[str] = []  # the scenarios reach users through the registry, not by name

for _module in pkgutil.iter_modules(__path__):
    importlib.import_module(f"{__name__}.{_module.name}")
