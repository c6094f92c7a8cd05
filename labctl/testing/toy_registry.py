"""The toy campaign kinds (``toy-gaussian``, ``toy-sensing``, ``toy-random``) in the registry.

Tests use :func:`registered` (a fixture adds them for one test and takes them away again);
processes that tests start register them for good by importing :mod:`labctl.testing.toy_kinds`.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from labctl.lab import registry
from labctl.optimizers import registry as optimizers

__all__ = ["TOY_EXPERIMENTS", "TOY_OPTIMIZERS", "register", "registered"]

TOY_EXPERIMENTS = {
    "toy-gaussian": "labctl.testing.toy_campaign:toy_experiment",
    "toy-sensing": "labctl.testing.toy_campaign:toy_sensing_experiment",
    "toy-curve": "labctl.testing.toy_campaign:toy_curve_experiment",
}
TOY_OPTIMIZERS = {"toy-random": "labctl.testing.toy_campaign:ToyOptimizer"}


def _clear_caches() -> None:
    registry._experiment_table.cache_clear()
    optimizers.forget_entry_points()


def register() -> None:
    """Add the toy kinds to the registry of this process."""
    registry._BUILTIN_EXPERIMENTS.update(TOY_EXPERIMENTS)
    optimizers.BUILTIN.update(TOY_OPTIMIZERS)
    _clear_caches()


@contextmanager
def registered() -> Iterator[None]:
    """The toy kinds, registered for the duration of the ``with`` block only."""
    register()
    try:
        yield
    finally:
        for name in TOY_EXPERIMENTS:
            registry._BUILTIN_EXPERIMENTS.pop(name, None)
        for name in TOY_OPTIMIZERS:
            optimizers.BUILTIN.pop(name, None)
            optimizers._REGISTRY.pop(name, None)
        _clear_caches()
