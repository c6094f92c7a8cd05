"""Optimizer kinds by name: the string a campaign config's ``optimizer.kind`` holds.

The one optimizer registry of labctl. A kind comes from labctl's own list (:data:`BUILTIN`), from
another distribution's entry point in the group ``labctl.optimizers`` (``name = module:Class``),
or from :func:`register` in this process. A name claimed twice by different classes is an error,
never a silent override. Classes are imported on first use, so ``import labctl.optimizers`` stays
light; :meth:`~labctl.optimizers.base.AskTellOptimizer.from_state` finds a saved optimizer's class
here, whichever way it was registered.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from functools import cache
from typing import TYPE_CHECKING, Any, TypeVar

from labctl.optimizers.errors import OptimizerError
from labctl.plugins import merged_with_entry_points

if TYPE_CHECKING:
    from labctl.optimizers.base import AskTellOptimizer

__all__ = [
    "BUILTIN",
    "ENTRY_POINT_GROUP",
    "DuplicateOptimizerError",
    "forget_entry_points",
    "get",
    "kinds",
    "register",
]

ENTRY_POINT_GROUP = "labctl.optimizers"

BUILTIN: dict[str, str] = {
    "botorch-mo": "labctl.optimizers.botorch_mo:BotorchMultiObjective",
    "sobol": "labctl.optimizers.sobol:SobolOptimizer",
    "skopt-gp": "labctl.optimizers.skopt_gp:SkoptOptimizer",
}
"""labctl's own kinds → ``module:Class`` (test helpers that add to it call
:func:`forget_entry_points` after)."""

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


@cache
def _targets() -> dict[str, str]:
    """Every kind known by import string: the built-in ones and the entry points."""
    return merged_with_entry_points(BUILTIN, ENTRY_POINT_GROUP, DuplicateOptimizerError)


def forget_entry_points() -> None:
    """Read :data:`BUILTIN` and the entry points again on the next look-up."""
    _targets.cache_clear()


def get(name: str) -> type[AskTellOptimizer]:
    """The optimizer class registered as ``name``.

    Raises:
        KeyError: nothing is registered under that name (the message lists the known ones).
        OptimizerError: the registered class cannot be imported.
    """
    if name in _REGISTRY:
        return _REGISTRY[name]
    target = _targets().get(name)
    if target is None:
        raise KeyError(f"unknown optimizer {name!r}; known: {', '.join(kinds())}")
    module_name, _, attribute = target.partition(":")
    try:
        cls = getattr(importlib.import_module(module_name), attribute)
    except (ImportError, AttributeError) as error:
        raise OptimizerError(f"cannot import optimizer {name!r} ({target}): {error}") from error
    if _REGISTRY.get(name) is not cls:  # an entry point's class need not use @register
        register(name)(cls)
    return _REGISTRY[name]


def kinds() -> list[str]:
    """Every known optimizer name (registered, built in or from an entry point)."""
    return sorted(set(_REGISTRY) | set(_targets()))
