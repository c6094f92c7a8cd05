"""labctl.optimizers: search spaces with units, mixtures and constraints, and ask/tell optimizers.

Modules by role (as in BoTorch): :mod:`.space` (parameters, encodings, feasibility),
:mod:`.objectives` (directions, units, reference point, outcome constraints),
:mod:`.surrogate` (GP per outcome), :mod:`.acquisition` (qLogNEHVI, qLogNParEGO),
:mod:`.candidates` (acquisition optimization that keeps every suggestion feasible),
:mod:`.pareto` (non-dominated set, hypervolume, plot), and the ask/tell fronts
:mod:`.botorch_mo` (``botorch-mo``, the default), :mod:`.sobol` (``sobol``) and
:mod:`.skopt_gp` (``skopt-gp``), found by name through :mod:`.registry`.

Names are imported lazily: ``import labctl.optimizers`` does not import torch.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from labctl.lazy import lazy_attributes

if TYPE_CHECKING:
    from labctl.optimizers.base import AskTellOptimizer
    from labctl.optimizers.botorch_mo import BotorchMultiObjective
    from labctl.optimizers.objectives import Objectives
    from labctl.optimizers.registry import get, kinds, register
    from labctl.optimizers.skopt_gp import SkoptOptimizer
    from labctl.optimizers.sobol import SobolOptimizer
    from labctl.optimizers.space import SearchSpace

__all__ = [
    "AskTellOptimizer",
    "BotorchMultiObjective",
    "Objectives",
    "SearchSpace",
    "SkoptOptimizer",
    "SobolOptimizer",
    "get",
    "kinds",
    "register",
]

_WHERE = {
    "AskTellOptimizer": "base",
    "BotorchMultiObjective": "botorch_mo",
    "Objectives": "objectives",
    "SearchSpace": "space",
    "SkoptOptimizer": "skopt_gp",
    "SobolOptimizer": "sobol",
    "get": "registry",
    "kinds": "registry",
    "register": "registry",
}


__getattr__ = lazy_attributes("labctl.optimizers", _WHERE)
