"""Pure functions that turn potentiostat curves into numbers.

Inputs are plain numpy arrays in SI units (s, V, A, ohm, Hz, m², 1/m); results are frozen
dataclasses whose field docstrings give the units. Every function raises
:class:`~labctl.analysis.errors.AnalysisError` (a :class:`~labctl.errors.LabctlError`) when its
data cannot give an answer, never a bare numpy or scipy error.

- :mod:`~labctl.analysis.eis`: Randles equivalent-circuit fit with uncertainties.
- :mod:`~labctl.analysis.conductivity`: κ = K_cell/R, blocking-electrode conductivity-cell fit.
- :mod:`~labctl.analysis.lsv`: stability limit at a current-density threshold.
- :mod:`~labctl.analysis.cv`: peak potentials and currents per cycle.
- :mod:`~labctl.analysis.pulses`: charge, Coulombic efficiency, duty cycle, overpotential and
  short-circuit detection for pulse trains and plate/strip sequences.
- :mod:`~labctl.analysis.plating`: the stripping transition of a constant-current strip and a
  LABELLED dendrite proxy (the fall of the plating overpotential as the deposit roughens).
"""

from __future__ import annotations

from labctl.analysis.conductivity import (
    BlockingCellFit,
    Conductivity,
    blocking_cell_impedance,
    conductivity_from_resistance,
    fit_blocking_cell,
)
from labctl.analysis.cv import CVCycle, cv_peaks, sweep_segments
from labctl.analysis.eis import (
    RandlesFit,
    RandlesGuess,
    fit_randles,
    randles_impedance,
    randles_initial_guess,
)
from labctl.analysis.errors import AnalysisError
from labctl.analysis.lsv import StabilityLimit, stability_limit
from labctl.analysis.parameters import FittedParameter
from labctl.analysis.plating import (
    OverpotentialDrift,
    StrippingTransition,
    held_charges,
    overpotential_drift,
    stripping_transition,
)
from labctl.analysis.pulses import (
    ChargeBalance,
    PlateStripMetrics,
    PulseTrainMetrics,
    charge_balance,
    detect_short_circuit,
    plate_strip_metrics,
    pulse_train_metrics,
)

__all__ = [
    "AnalysisError",
    "BlockingCellFit",
    "CVCycle",
    "ChargeBalance",
    "Conductivity",
    "FittedParameter",
    "OverpotentialDrift",
    "PlateStripMetrics",
    "PulseTrainMetrics",
    "RandlesFit",
    "RandlesGuess",
    "StabilityLimit",
    "StrippingTransition",
    "blocking_cell_impedance",
    "charge_balance",
    "conductivity_from_resistance",
    "cv_peaks",
    "detect_short_circuit",
    "fit_blocking_cell",
    "fit_randles",
    "held_charges",
    "overpotential_drift",
    "plate_strip_metrics",
    "pulse_train_metrics",
    "randles_impedance",
    "randles_initial_guess",
    "stability_limit",
    "stripping_transition",
    "sweep_segments",
]
