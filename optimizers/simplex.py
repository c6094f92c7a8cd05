"""A bounded stick-breaking map from the unit cube onto a mixture's feasible simplex.

A mixture of ``k`` members with fractions ``x_i`` in ``[low_i, high_i]`` that sum to 1 is a
``(k - 1)``-dimensional polytope. Optimizing an acquisition function over it directly needs an
equality-constrained optimizer (SLSQP), several times slower than the bound-constrained L-BFGS-B
that BoTorch uses otherwise. Here the polytope is reached from the cube ``[0, 1]^(k - 1)`` instead:

    remaining = 1
    for i in 1 … k - 1:
        lo_i = max(low_i, remaining - Σ_{j > i} high_j)
        hi_i = min(high_i, remaining - Σ_{j > i} low_j)
        x_i = lo_i + v_i (hi_i - lo_i);  remaining -= x_i
    x_k = remaining

Each interval keeps what is left reachable by the members still to come, so every image satisfies
every member's bounds and sums to 1 to rounding (≈ 1e-16); the map is onto the polytope, piecewise
multilinear and differentiable almost everywhere (autograd follows it). Because ``x_k`` is what is
left, the sum is exact by construction rather than by a solver's tolerance.

With all bounds at [0, 1], drawing ``v_i`` from Beta(1, k - i) makes the image uniform on the
simplex (the Dirichlet(1, …, 1) stick-breaking construction); :func:`uniform_sticks` applies that
warp to uniform (Sobol) numbers so initial designs and raw samples cover the simplex evenly. With
tighter bounds the result is close to, not exactly, uniform.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor

__all__ = ["StickBreaking", "uniform_sticks"]


class StickBreaking:
    """The cube ↔ polytope maps of one mixture group.

    Args:
        low: lower bound of each member's fraction, length ``k`` (``k ≥ 2``).
        high: upper bound of each member's fraction, length ``k``; ``Σ low ≤ 1 ≤ Σ high``.
    """

    def __init__(self, low: Sequence[float], high: Sequence[float]) -> None:
        if len(low) != len(high) or len(low) < 2:
            raise ValueError("a mixture needs at least two members with one bound pair each")
        if sum(low) > 1 + 1e-12 or sum(high) < 1 - 1e-12:
            raise ValueError("the members' bounds cannot sum to 1")
        self.k = len(low)
        self.low = [float(value) for value in low]
        self.high = [float(value) for value in high]
        # Sums over the members after i (for i = 0 … k - 1).
        self._rest_low = [sum(self.low[i + 1 :]) for i in range(self.k)]
        self._rest_high = [sum(self.high[i + 1 :]) for i in range(self.k)]

    def to_fractions(self, sticks: Tensor) -> Tensor:
        """Map stick coordinates to fractions.

        Args:
            sticks: ``... x (k - 1)`` tensor in ``[0, 1]``.

        Returns:
            ``... x k`` tensor of fractions within bounds, each row summing to 1.
        """
        remaining = torch.ones_like(sticks[..., 0])
        fractions = []
        for i in range(self.k - 1):
            lo = torch.clamp(remaining - self._rest_high[i], min=self.low[i])
            hi = torch.clamp(remaining - self._rest_low[i], max=self.high[i])
            hi = torch.maximum(hi, lo)
            value = lo + sticks[..., i].clamp(0.0, 1.0) * (hi - lo)
            fractions.append(value)
            remaining = remaining - value
        fractions.append(remaining)
        return torch.stack(fractions, dim=-1)

    def to_sticks(self, fractions: Tensor) -> Tensor:
        """Map fractions back to stick coordinates (the inverse of :meth:`to_fractions`).

        Args:
            fractions: ``... x k`` tensor of fractions summing to 1.

        Returns:
            ``... x (k - 1)`` tensor in ``[0, 1]``; coordinates of a pinned member (an interval
            of zero width) are 0.5.
        """
        remaining = torch.ones_like(fractions[..., 0])
        sticks = []
        for i in range(self.k - 1):
            lo = torch.clamp(remaining - self._rest_high[i], min=self.low[i])
            hi = torch.clamp(remaining - self._rest_low[i], max=self.high[i])
            width = hi - lo
            safe = torch.where(width > 1e-12, width, torch.ones_like(width))
            stick = torch.where(
                width > 1e-12,
                (fractions[..., i] - lo) / safe,
                torch.full_like(width, 0.5),
            )
            sticks.append(stick.clamp(0.0, 1.0))
            remaining = remaining - fractions[..., i]
        return torch.stack(sticks, dim=-1)


def uniform_sticks(uniform: Tensor) -> Tensor:
    """Warp uniform numbers so that stick-breaking gives a uniform point on the simplex.

    Args:
        uniform: ``... x (k - 1)`` tensor of independent U(0, 1) (or Sobol) numbers.

    Returns:
        ``... x (k - 1)`` tensor, column ``i`` (0-based) distributed as Beta(1, k - 1 - i).
    """
    k = uniform.shape[-1] + 1
    exponents = torch.tensor(
        [1.0 / (k - 1 - i) for i in range(k - 1)], dtype=uniform.dtype, device=uniform.device
    )
    return 1.0 - torch.pow((1.0 - uniform).clamp(min=0.0), exponents)
