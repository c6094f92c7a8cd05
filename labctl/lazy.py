"""A package's public names, imported from their modules on first use.

``labctl.plans``, ``labctl.devices``, ``labctl.optimizers`` and ``labctl.simulators`` list their
public names in ``__all__`` but import nothing heavy (bluesky, ophyd, torch) until a name is
used, so ``import labctl.plans`` stays quick. Each gives :func:`lazy_attributes` the module of
every name and uses the function it returns as its module ``__getattr__``.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from typing import Any

__all__ = ["lazy_attributes"]


def lazy_attributes(package: str, where: Mapping[str, str]) -> Callable[[str], Any]:
    """A module ``__getattr__`` for ``package``: name → its value in ``package.<where[name]>``."""

    def attribute(name: str) -> Any:
        if name in where:
            return getattr(importlib.import_module(f"{package}.{where[name]}"), name)
        raise AttributeError(f"module {package!r} has no attribute {name!r}")

    return attribute
