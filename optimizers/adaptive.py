"""bluesky-adaptive's recommender verbs over any labctl optimizer.

bluesky-adaptive agents drive a recommender with ``tell(x, y)`` (one point),
``tell_many(xs, ys)`` and ``ask(n, tell_pending=True)``, where points are plain sequences of
numbers and an ``ask`` may count its suggestions as pending until they are told. labctl's
optimizers speak mappings with units; :class:`AdaptiveRecommender` translates: ``x`` is a sequence
in the order of :attr:`input_names`, each number in the unit that parameter is configured in
(mixture fractions as fractions, categoricals as their option), ``y`` in the order of
:attr:`outcome_names` (``None`` for a failed point).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pint

from labctl.optimizers.base import AskTellOptimizer
from labctl.optimizers.errors import InputError

__all__ = ["AdaptiveRecommender"]


class AdaptiveRecommender:
    """Wraps ``optimizer`` with bluesky-adaptive's ``tell`` / ``tell_many`` / ``ask``.

    Args:
        optimizer: any labctl optimizer.
    """

    def __init__(self, optimizer: AskTellOptimizer) -> None:
        self.optimizer = optimizer
        self._pending: list[dict[str, Any]] = []

    @property
    def input_names(self) -> list[str]:
        """The order of numbers in ``x`` (free parameters and mixture members)."""
        return list(self.optimizer.space.names)

    @property
    def outcome_names(self) -> list[str]:
        """The order of numbers in ``y``."""
        return list(self.optimizer.objectives.names)

    def _as_inputs(self, x: Sequence[Any]) -> dict[str, Any]:
        names = self.input_names
        if len(x) != len(names):
            raise InputError(f"x has {len(x)} values; expected {len(names)}: {names}")
        return dict(zip(names, x, strict=True))

    def _as_outcome(self, y: Sequence[float] | None) -> dict[str, float] | None:
        if y is None:
            return None
        names = self.outcome_names
        if len(y) != len(names):
            raise InputError(f"y has {len(y)} values; expected {len(names)}: {names}")
        return {name: float(value) for name, value in zip(names, y, strict=True)}

    def tell(self, x: Sequence[Any], y: Sequence[float] | None) -> None:
        """Record one point and its outcomes (it stops being pending)."""
        self.tell_many([x], [y])

    def tell_many(self, xs: Sequence[Sequence[Any]], ys: Sequence[Sequence[float] | None]) -> None:
        """Record several points and their outcomes."""
        inputs = [self._as_inputs(x) for x in xs]
        self.optimizer.tell(inputs, [self._as_outcome(y) for y in ys])
        told = [self.optimizer.space.encode(point).round(12).tolist() for point in inputs]
        self._pending = [
            point
            for point in self._pending
            if self.optimizer.space.encode(point).round(12).tolist() not in told
        ]

    def ask(self, n: int, tell_pending: bool = True) -> list[list[Any]]:
        """``n`` suggestions as sequences in :attr:`input_names` order.

        With ``tell_pending`` they count as pending (later asks avoid them) until told.
        """
        suggestions = self.optimizer.ask(n, pending=list(self._pending))
        if tell_pending:
            self._pending.extend(suggestions)
        return [
            [
                float(value.magnitude) if isinstance(value, pint.Quantity) else value
                for value in (suggestion[name] for name in self.input_names)
            ]
            for suggestion in suggestions
        ]
