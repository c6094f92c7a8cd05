"""Calibration of the SURROGATE conductivity mixing rule on the Landesfeind & Gasteiger fits.

The surrogate of :mod:`.mixing` is fitted to, and judged against, the published fits of
Landesfeind & Gasteiger, J. Electrochem. Soc. 166, A3079 (2019), for LiPF6 in EC:DMC 1:1,
EC:EMC 3:7 and EMC:FEC 19:1 (w:w) on a grid of 0.2–2.0 mol/L (step 0.1) × 263.15–323.15 K
(step 10 K). Molarity is converted to molality with :mod:`.composition`'s density model.

The *calibration hull* is the set of blends that are convex combinations of the three systems'
solvent mass fractions; :func:`hull_distance` measures how far a blend lies from it.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from labctl.simulators.electrolyte.composition import molarity_to_molality, validate_fractions
from labctl.simulators.electrolyte.landesfeind import LANDESFEIND_SYSTEMS, SystemName
from labctl.simulators.electrolyte.mixing import (
    CasteelAmisSurrogate,
    blend_permittivity,
    blend_viscosity,
    casteel_amis,
)

FloatArray = npt.NDArray[np.float64]

__all__ = [
    "CALIBRATION_CONCENTRATIONS",
    "CALIBRATION_TEMPERATURES",
    "CalibrationResidual",
    "calibration_residuals",
    "fit_surrogate",
    "hull_distance",
]

CALIBRATION_CONCENTRATIONS: tuple[float, ...] = tuple(round(0.2 + 0.1 * i, 10) for i in range(19))
"""Molarities of the calibration grid, mol/L."""

CALIBRATION_TEMPERATURES: tuple[float, ...] = tuple(263.15 + 10.0 * i for i in range(7))
"""Temperatures of the calibration grid, K."""


@dataclass(frozen=True)
class CalibrationResidual:
    """How far the surrogate is from one Landesfeind system over the grid.

    Args:
        system: the system's name.
        max_relative_error: max |κ_surrogate/κ_fit − 1| over the grid.
        rms_relative_error: root-mean-square of κ_surrogate/κ_fit − 1.
        relative_error_25c_1m: κ_surrogate/κ_fit − 1 at 1 mol/L and 298.15 K.
    """

    system: str
    max_relative_error: float
    rms_relative_error: float
    relative_error_25c_1m: float


@dataclass(frozen=True)
class _Grid:
    """One system's calibration grid, flattened (all arrays have one entry per grid point)."""

    system: SystemName
    molarity: FloatArray
    temperature: FloatArray
    molality: FloatArray
    log_viscosity: FloatArray
    permittivity: FloatArray
    conductivity: FloatArray


def _grid(name: SystemName) -> _Grid:
    """The calibration grid of one Landesfeind system, with the blend descriptors at each T."""
    system = LANDESFEIND_SYSTEMS[name]
    fractions = system.solvent_fractions
    molarity, temperature = (
        np.array(axis, dtype=np.float64).ravel()
        for axis in np.meshgrid(CALIBRATION_CONCENTRATIONS, CALIBRATION_TEMPERATURES)
    )
    molality = np.array(
        [
            molarity_to_molality(c, fractions, t, "LiPF6")
            for c, t in zip(molarity, temperature, strict=True)
        ]
    )
    log_viscosity = np.array([math.log(blend_viscosity(fractions, t) * 1e3) for t in temperature])
    permittivity = np.array([blend_permittivity(fractions, t) for t in temperature])
    conductivity = system.conductivity(molarity, temperature)
    return _Grid(name, molarity, temperature, molality, log_viscosity, permittivity, conductivity)


def _surrogate_on(grid: _Grid, surrogate: CasteelAmisSurrogate) -> FloatArray:
    """The surrogate's κ (S/m) at every point of ``grid``."""
    values = [
        float(casteel_amis(m, *surrogate.parameters_from(log_eta, eps)))
        for m, log_eta, eps in zip(
            grid.molality, grid.log_viscosity, grid.permittivity, strict=True
        )
    ]
    return np.array(values)


def calibration_residuals(surrogate: CasteelAmisSurrogate) -> list[CalibrationResidual]:
    """Relative errors of ``surrogate`` against the three Landesfeind & Gasteiger (2019) fits.

    Args:
        surrogate: the mixing-rule surrogate to judge (normally ``DEFAULT_SURROGATE``).

    Returns:
        One :class:`CalibrationResidual` per system, over the calibration grid.
    """
    results = []
    for name, system in LANDESFEIND_SYSTEMS.items():
        grid = _grid(name)
        errors = _surrogate_on(grid, surrogate) / grid.conductivity - 1.0
        molality = molarity_to_molality(1.0, system.solvent_fractions, 298.15, "LiPF6")
        at_25c_1m = float(surrogate.conductivity(molality, system.solvent_fractions, 298.15))
        reference = float(system.conductivity(1.0, 298.15))
        results.append(
            CalibrationResidual(
                system=name,
                max_relative_error=float(np.max(np.abs(errors))),
                rms_relative_error=float(np.sqrt(np.mean(errors**2))),
                relative_error_25c_1m=at_25c_1m / reference - 1.0,
            )
        )
    return results


def fit_surrogate(start: CasteelAmisSurrogate) -> CasteelAmisSurrogate:
    """Least-squares fit of the surrogate's constants to ln κ of the three Landesfeind systems.

    This is how ``DEFAULT_SURROGATE`` was obtained (started from a rough guess); it is kept so
    the calibration can be redone when the pure-solvent table or the density model changes.

    Args:
        start: initial constants.

    Returns:
        The fitted surrogate.
    """
    from scipy.optimize import least_squares  # only calibration needs scipy

    grids = [_grid(name) for name in LANDESFEIND_SYSTEMS]

    def log_errors(values: FloatArray) -> FloatArray:
        candidate = CasteelAmisSurrogate(*(float(v) for v in values))
        return np.concatenate(
            [np.log(_surrogate_on(grid, candidate) / grid.conductivity) for grid in grids]
        )

    initial = np.array([float(v) for v in vars(start).values()])
    solution = least_squares(log_errors, initial, x_scale="jac")
    return CasteelAmisSurrogate(*(float(v) for v in solution.x))


def hull_distance(solvent_fractions: Mapping[str, float]) -> float:
    """Euclidean distance (in mass-fraction space) from a blend to the calibration hull.

    The hull is the set of convex combinations of the three Landesfeind systems' solvent mass
    fractions; the distance is 0 inside it. Solved as non-negative least squares with the
    weights' sum-to-one row weighted heavily.

    Args:
        solvent_fractions: solvent → mass fraction (sums to 1).
    """
    from scipy.optimize import nnls

    fractions = validate_fractions(solvent_fractions)
    systems = list(LANDESFEIND_SYSTEMS.values())
    names = sorted(set(fractions).union(*(s.solvent_fractions for s in systems)))
    vertices = np.array([[s.solvent_fractions.get(n, 0.0) for s in systems] for n in names])
    target = np.array([fractions.get(n, 0.0) for n in names])
    weight = 1e3
    matrix = np.vstack([vertices, weight * np.ones(len(systems))])
    rhs = np.concatenate([target, [weight]])
    weights, _ = nnls(matrix, rhs)
    return float(np.linalg.norm(vertices @ weights - target))
