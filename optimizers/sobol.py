"""Sobol: a space-filling, model-free baseline behind the same ask/tell interface.

Suggestions are the feasible points of one scrambled Sobol sequence (seeded), in order: point
``t`` for the ``t``-th known experiment (told, failed or pending), skipping any repeat. Mixtures
are sampled uniformly on their simplex through the warped stick-breaking map; linear constraints
are met by rejection. Outcomes are recorded (for progress and the Pareto front) but never used
to choose.
"""

from __future__ import annotations

import numpy as np

from labctl.optimizers.base import AskTellOptimizer
from labctl.optimizers.registry import register

__all__ = ["SobolOptimizer"]


@register("sobol")
class SobolOptimizer(AskTellOptimizer):
    """Scrambled Sobol sequence over the feasible space (see the module docstring).

    Args:
        space: the search space, or the ``space`` section of a campaign config.
        objectives: the objectives, or the ``objectives`` section.
        seed: the Sobol scrambling seed.
    """

    def _suggest(self, n: int, X: np.ndarray, Y: np.ndarray, X_pending: np.ndarray) -> np.ndarray:
        del Y
        return self.sobol(n, np.vstack([X, X_pending]))
