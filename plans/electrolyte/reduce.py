"""The electrolyte experiment's reducer: objectives from the stored run alone.

κ from the bulk resistance *fitted* to the EIS (Randles fit) and the configured, calibrated cell
constant; the oxidative stability limit from the LSV at a current-density cut-off; the material
cost from the *recorded* achieved composition and the configured price table. Never from a twin's
truth, so a resume or a report reduces a stored run exactly as the campaign did.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from typing import Any

import numpy as np

from labctl.analysis import conductivity_from_resistance, fit_randles, stability_limit
from labctl.devices.dispensing.recipe import salt_molar_mass
from labctl.errors import LabctlError
from labctl.plans.electrolyte.options import ElectrolyteOptions
from labctl.plans.rundata import RunData
from labctl.units import to_magnitude, ureg

__all__ = ["material_cost", "reduce_run"]


def reduce_run(
    run: RunData,
    options: ElectrolyteOptions,
    units: Mapping[str, str] | None = None,
) -> dict[str, float]:
    """Conductivity, stability limit and cost of one stored or live run.

    Args:
        run: the finished run.
        options: the experiment's options (cell constant, electrode area, threshold, prices).
        units: outcome → unit to report it in (default mS/cm and V; cost is per kg in the
            prices' currency).

    Raises:
        LabctlError: a stream is missing, a fit fails (``AnalysisError``), or the measured
            temperature is not the proposed one.
    """
    units = dict(units or {})
    potentiostat = options.potentiostat
    eis = run.stream("eis")
    fit = fit_randles(
        _curve(eis, f"{potentiostat}_frequency"),
        _curve(eis, f"{potentiostat}_z_real"),
        _curve(eis, f"{potentiostat}_z_imag"),
    )
    kappa = conductivity_from_resistance(fit.solution_resistance, options.cell_constant_per_m)
    lsv = run.stream("lsv")
    window = (
        None
        if options.baseline_window is None
        else (
            to_magnitude(options.baseline_window[0], "V"),
            to_magnitude(options.baseline_window[1], "V"),
        )
    )
    limit = stability_limit(
        _curve(lsv, f"{potentiostat}_potential"),
        _curve(lsv, f"{potentiostat}_current"),
        electrode_area=to_magnitude(options.electrode_area, "m**2"),
        current_density_threshold=to_magnitude(options.stability_threshold, "A/m**2"),
        baseline_window=window,
    )
    _check_temperature(run, options)
    return {
        "conductivity": _in(kappa.value, "S/m", units.get("conductivity") or "mS/cm"),
        "stability_limit": _in(limit.potential, "V", units.get("stability_limit") or "V"),
        "cost": material_cost(run, options),
    }


def material_cost(run: RunData, options: ElectrolyteOptions) -> float:
    """Cost per kg of the electrolyte the robot recorded as made (prices per kg).

    Per kg of solvent the electrolyte holds m·M kg of salt and wⱼ kg of solvent j, so per kg of
    electrolyte: (m·M·p_salt + Σ wⱼ pⱼ) / (1 + m·M).
    """
    preparation = run.stream("preparation").iloc[-1]
    robot = options.robot
    molality = float(preparation[f"{robot}_molality"])
    solvents: dict[str, float] = json.loads(str(preparation[f"{robot}_solvents"]))
    salt_per_kg_solvent = molality * to_magnitude(salt_molar_mass(options.salt), "kg/mol")
    unpriced = [name for name in solvents if name not in options.prices]
    if unpriced:
        raise LabctlError(f"electrolyte cost: no price for {', '.join(unpriced)}")
    cost = salt_per_kg_solvent * options.prices[options.salt] + math.fsum(
        fraction * options.prices[name] for name, fraction in solvents.items()
    )
    return cost / (1.0 + salt_per_kg_solvent)


def _check_temperature(run: RunData, options: ElectrolyteOptions) -> None:
    sensor = options.temperature_sensor
    proposed = (run.start.get("inputs") or {}).get(options.temperature_input or "")
    if sensor is None or not isinstance(proposed, Mapping):
        return
    measured = float(run.stream("temperature").iloc[-1][f"{sensor.device}_{sensor.channel}"])
    wanted = to_magnitude(ureg.Quantity(proposed["value"], proposed["units"]), "K")
    tolerance = float(sensor.tolerance.magnitude)  # K and Δ°C are the same size
    if abs(measured - wanted) > tolerance:
        raise LabctlError(
            f"the cell was at {measured - 273.15:.2f} °C ({sensor.device}.{sensor.channel}), "
            f"not the proposed {wanted - 273.15:.2f} °C (tolerance ± {tolerance:g} K)"
        )


def _curve(frame: Any, column: str) -> np.ndarray[Any, np.dtype[np.float64]]:
    if column not in frame.columns:
        raise LabctlError(f"the run's stream lacks {column!r}; it has {list(frame.columns)}")
    return np.asarray(frame[column].iloc[-1], dtype=float)


def _in(value: float, unit: str, wanted: str) -> float:
    return float(ureg.Quantity(value, unit).to(wanted).magnitude)
