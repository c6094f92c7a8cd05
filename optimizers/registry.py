"""Optimizer kinds by name: the string a campaign config's ``optimizer.kind`` holds.

A kind is registered once; a second class claiming a taken name is an error, never a silent
override. labctl's own kinds register when their modules are imported; :func:`get` imports them
on first use, so ``import labctl.optimizers`` stays light.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

from labctl.optimizers.errors import OptimizerError

if TYPE_CHECKING:
    from labctl.optimizers.base import AskTellOptimizer

__all__ = ["BUILTIN", "DuplicateOptimizerError", "get", "kinds", "register"]

BUILTIN: dict[str, str] = {
    "botorch-mo": "labctl.optimizers.botorch_mo:BotorchMultiObjective",
    "sobol": "labctl.optimizers.sobol:SobolOptimizer",
    "skopt-gp": "labctl.optimizers.skopt_gp:SkoptOptimizer",
}
"""labctl's own kinds → ``module:class`` (the form ``labctl.registry`` lists)."""

_REGISTRY: dict[str, type[Any]] = {}
T = TypeVar("T", bound=type[Any])


class DuplicateOptimizerError(OptimizerError):
    """Two different classes claim one optimizer name."""


def register(name: str) -> Callable[[T], T]:
    """Class decorator: register an optimizer class under ``name`` (its ``kind``).

    Raises:
        DuplicateOptimizerError: another class already has that name.
    """

    def decorate(cls: T) -> T:
        known = _REGISTRY.get(name)
        if known is not None and known is not cls:
            raise DuplicateOptimizerError(
                f"optimizer name {name!r} is claimed by both "
                f"{known.__module__}.{known.__qualname__} and {cls.__module__}.{cls.__qualname__}"
            )
        _REGISTRY[name] = cls
        cls.kind = name
        return cls

    return decorate


def get(name: str) -> type[AskTellOptimizer]:
    """The optimizer class registered as ``name``.

    Raises:
        KeyError: nothing is registered under that name (the message lists the known ones).
    """
    if name not in _REGISTRY and name in BUILTIN:
        importlib.import_module(BUILTIN[name].partition(":")[0])
    if name not in _REGISTRY:
        raise KeyError(f"unknown optimizer {name!r}; known: {', '.join(kinds())}")
    return _REGISTRY[name]


def kinds() -> list[str]:
    """Every known optimizer name (registered or built in)."""
    return sorted(set(_REGISTRY) | set(BUILTIN))
