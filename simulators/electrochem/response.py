"""The one entry point the potentiostat twins answer from: a technique in, the cell's response out.

:func:`respond` takes a technique of the shared contract (an SI mapping with ``kind``: ``ocv``,
``ca``, ``cp``, ``lsv``, ``cv``, ``eis``, ``pulse_train``, ``plate_strip``), a
:class:`~labctl.simulators.electrochem.state.CellState` and a numpy generator, and returns what a
driver returns: ``time`` (s), ``potential`` (V), ``current`` (A) — samples at interval·k,
k = 1…n; for LSV/CV one sample per ``step`` at t = k·step/scan_rate — or for EIS ``frequency``
(Hz), ``z_real``, ``z_imag`` (Ω, z_imag < 0 for a capacitive cell). Potentials are V vs the
reference (Li/Li⁺ for the defaults); currents IUPAC (anodic positive, plating negative).

Which physics answers which technique:

* ``eis`` — the Randles cell of :mod:`.impedance` with R_s = K_cell/κ, C_dl·A, R_ct and σ of the
  metal couple (linear response about equilibrium: ``dc_potential`` and ``amplitude`` do not
  change it; a shorted cell is R_short + jωL; a dry cell an open circuit, 1e12 Ω ∥ 1 pF).
* ``ca``, ``lsv``, ``cv`` — :func:`.voltammetry.potentiostatic` (redox probe, capacitive,
  electrolyte oxidation, metal plating/stripping with transport, iR drop).
* ``cp``, ``pulse_train``, ``plate_strip``, ``ocv`` — :func:`.plating.galvanostatic` (OCV is a
  zero-current run). ``plate_strip`` plates ``plate_charge``, rests ``rest_time`` at zero current
  and strips until the first sample beyond ``cutoff_potential`` (or 1.5 × the plating time).
  The redox probe takes no part in galvanostatic runs.
* Instrument limits (``current_limit``, ranges) are the twins' business; ``compliance_voltage``
  only clips the cell voltage the model reports (default ``state.default_compliance``). Every
  number returned is finite.

Noise (seeded from ``rng``, scaled by ``state.noise``; with ``noise`` = 0 nothing is drawn and the
result is exactly reproducible): potential σ = 0.1 mV; current σ = 0.1 % of |i| + 1 nA (measured
current) or 0.01 % + 0.1 nA (applied current); EIS σ = 0.1 % of |Z| on each of Z′ and Z″
(REFERENCES 1.3).

Memory between techniques: the electrode (plated metal, salt concentration profile, double-layer
potential, dendrite, short) carries over with no time passing in between — the model has no clock
of its own; a twin that wants a rest runs ``ocv``. The redox probe's diffusion layer carries over
only into a potentiostatic run that continues the previous one (see :mod:`.voltammetry`);
:meth:`ElectrodeState.forget_probe` drops it.

:func:`cell_state` builds the state of a world measurement cell (see its docstring).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from typing import Any

import numpy as np
import numpy.typing as npt

from labctl.errors import LabctlError
from labctl.simulators.electrochem.impedance import (
    open_circuit_impedance,
    randles_impedance,
    warburg_coefficient,
)
from labctl.simulators.electrochem.plating import Segment, StopRule, galvanostatic
from labctl.simulators.electrochem.state import CellState, ElectrodeState
from labctl.simulators.electrochem.voltammetry import cv_program, lsv_program, potentiostatic
from labctl.simulators.electrolyte.components import SALTS, SOLVENTS
from labctl.simulators.electrolyte.composition import Composition
from labctl.simulators.electrolyte.landesfeind import LANDESFEIND_SYSTEMS
from labctl.simulators.electrolyte.model import electrolyte_properties
from labctl.simulators.electrolyte.stability import DEFAULT_STABILITY
from labctl.simulators.electrolyte.viscosity import carbonate_viscosity

__all__ = ["KINDS", "CellState", "ElectrodeState", "cell_state", "respond"]

FloatArray = npt.NDArray[np.float64]

KINDS = frozenset({"ocv", "ca", "cp", "lsv", "cv", "eis", "pulse_train", "plate_strip"})
"""The technique kinds :func:`respond` answers."""

PROPERTIES_KEY = "electrochem"
"""``cell.properties`` key of the electrode's persistent :class:`ElectrodeState`."""

PARAMETERS_KEY = "electrochem_parameters"
"""``cell.properties`` key of optional :class:`CellState` overrides (field name → value)."""

_DERIVED_KEY = "electrochem_electrolyte"
_POTENTIAL_NOISE = 1e-4
_MEASURED_RELATIVE, _MEASURED_FLOOR = 1e-3, 1e-9
_APPLIED_RELATIVE, _APPLIED_FLOOR = 1e-4, 1e-10
_IMPEDANCE_NOISE = 1e-3
_STABILITY_SWEEP_RATE = 1e-3
"""Sweep rate (V/s) at which the electrolyte model's ``stability_limit`` is defined."""


def _number(technique: Mapping[str, Any], key: str, *, default: float | None = None) -> float:
    value = technique.get(key, default)
    if value is None:
        raise ValueError(f"technique {technique.get('kind')!r} needs {key!r}")
    number = float(value)
    if not math.isfinite(number):
        raise ValueError(f"technique {technique.get('kind')!r}: {key} = {value!r} is not finite")
    return number


def _positive(technique: Mapping[str, Any], key: str) -> float:
    number = _number(technique, key)
    if not number > 0:
        raise ValueError(f"technique {technique.get('kind')!r}: {key} must be > 0, got {number}")
    return number


def _count(duration: float, interval: float) -> int:
    return math.floor(duration / interval + 1e-9)


def respond(
    technique: Mapping[str, Any], state: CellState, rng: np.random.Generator
) -> dict[str, FloatArray]:
    """The cell's response to one technique (see the module docstring).

    Args:
        technique: SI mapping of the technique contract (``kind`` and its keys).
        state: the cell; its electrode memory (``state.electrode``) is updated.
        rng: noise generator (not used when ``state.noise`` is 0).

    Returns:
        Arrays by name: ``time``, ``potential``, ``current`` (time-domain kinds) or
        ``frequency``, ``z_real``, ``z_imag`` (``eis``).

    Raises:
        ValueError: an unknown kind, or a missing or invalid key.
    """
    kind = technique.get("kind")
    if kind not in KINDS:
        raise ValueError(f"unknown technique kind {kind!r}; known: {', '.join(sorted(KINDS))}")
    if kind == "eis":
        state.memory.probe_history = None
        return _eis(technique, state, rng)
    if kind in ("ca", "lsv", "cv"):
        result = _potentiostatic(technique, state)
        return _noisy(result, state, rng, measured="current")
    result = _galvanostatic(technique, state)
    if state.dry:
        result["current"] = np.zeros_like(result["current"])
    return _noisy(result, state, rng, measured="potential")


def _potentiostatic(technique: Mapping[str, Any], state: CellState) -> dict[str, FloatArray]:
    kind = technique["kind"]
    if kind == "ca":
        potential = _number(technique, "potential")
        interval = _positive(technique, "interval")
        count = _count(_positive(technique, "duration"), interval)
        return potentiostatic(state, np.full(count, potential), interval, potential)
    step = _positive(technique, "step")
    rate = _positive(technique, "scan_rate")
    start = _number(technique, "start")
    if kind == "lsv":
        program = lsv_program(start, _number(technique, "end"), step)
    else:
        cycles = int(technique.get("cycles", 1))
        if cycles < 1:
            raise ValueError(f"technique 'cv': cycles must be ≥ 1, got {cycles}")
        vertex1, vertex2 = _number(technique, "vertex1"), _number(technique, "vertex2")
        program = cv_program(start, vertex1, vertex2, step, cycles)
    return potentiostatic(state, program, step / rate, start)


def _galvanostatic(technique: Mapping[str, Any], state: CellState) -> dict[str, FloatArray]:
    kind = technique["kind"]
    compliance = technique.get("compliance_voltage")
    bound = None if compliance is None else abs(float(compliance))
    stop = None
    if kind == "ocv":
        segments = [Segment(_positive(technique, "duration"), 0.0, "ocv")]
    elif kind == "cp":
        current = _number(technique, "current")
        segments = [Segment(_positive(technique, "duration"), current, "cp")]
    elif kind == "pulse_train":
        cycles = int(technique.get("cycles", 1))
        if cycles < 1:
            raise ValueError(f"technique 'pulse_train': cycles must be ≥ 1, got {cycles}")
        on = Segment(_positive(technique, "on_time"), _number(technique, "on_current"), "on")
        off = Segment(
            _positive(technique, "off_time"), _number(technique, "off_current", default=0.0), "off"
        )
        segments = [on, off] * cycles
    else:  # plate_strip
        plate_current = _number(technique, "plate_current")
        strip_current = _number(technique, "strip_current")
        charge = _positive(technique, "plate_charge")
        if not (plate_current < 0 < strip_current):
            raise ValueError(
                "technique 'plate_strip' needs plate_current < 0 and strip_current > 0"
            )
        plate_time = charge / -plate_current
        segments = [Segment(plate_time, plate_current, "plate")]
        rest = _number(technique, "rest_time", default=0.0)
        if rest > 0:
            segments.append(Segment(rest, 0.0, "rest"))
        segments.append(Segment(1.5 * charge / strip_current, strip_current, "strip"))
        stop = StopRule("strip", _number(technique, "cutoff_potential"), rising=True)
    interval = _positive(technique, "interval")
    return galvanostatic(state, segments, interval, compliance=bound, stop=stop)


def _noisy(
    result: dict[str, FloatArray],
    state: CellState,
    rng: np.random.Generator,
    *,
    measured: str,
) -> dict[str, FloatArray]:
    """Add the seeded measurement noise (nothing is drawn when ``state.noise`` is 0)."""
    scale = state.noise
    if scale == 0 or result["time"].size == 0:
        return result
    potential, current = result["potential"], result["current"]
    size = potential.size
    potential = potential + rng.normal(0.0, scale * _POTENTIAL_NOISE, size)
    if measured == "current":
        sigma = scale * (_MEASURED_RELATIVE * np.abs(current) + _MEASURED_FLOOR)
    else:
        sigma = scale * (_APPLIED_RELATIVE * np.abs(current) + _APPLIED_FLOOR)
    current = current + rng.normal(0.0, 1.0, size) * sigma
    return {"time": result["time"], "potential": potential, "current": current}


def _eis(
    technique: Mapping[str, Any], state: CellState, rng: np.random.Generator
) -> dict[str, FloatArray]:
    raw = technique.get("frequencies")
    if raw is None:
        raise ValueError("technique 'eis' needs 'frequencies'")
    frequency = np.asarray(raw, dtype=np.float64).ravel()
    if frequency.size == 0 or not np.all(np.isfinite(frequency)) or np.any(frequency <= 0):
        raise ValueError("technique 'eis': frequencies must be finite and > 0 Hz")
    if state.dry:
        z = open_circuit_impedance(
            frequency, state.open_circuit_resistance, state.stray_capacitance
        )
    elif state.memory.shorted:
        z = np.asarray(
            state.short_resistance + 2j * np.pi * frequency * state.inductance,
            dtype=np.complex128,
        )
    else:
        sigma = warburg_coefficient(
            state.salt_concentration,
            state.salt_diffusivity,
            state.electrode_area,
            state.temperature,
            electrons=state.metal_electrons,
            transference_number=state.transference_number,
        )
        z = randles_impedance(
            frequency,
            state.solution_resistance,
            state.capacitance,
            state.charge_transfer_resistance,
            sigma,
            state.inductance,
        )
    if state.noise != 0:
        sigma_z = state.noise * _IMPEDANCE_NOISE * np.abs(z)
        noise = rng.normal(0.0, 1.0, z.size) + 1j * rng.normal(0.0, 1.0, z.size)
        z = np.asarray(z + sigma_z * noise, dtype=np.complex128)
    return {
        "frequency": frequency,
        "z_real": np.ascontiguousarray(z.real, dtype=np.float64),
        "z_imag": np.ascontiguousarray(z.imag, dtype=np.float64),
    }


# -- world cells -------------------------------------------------------------------------------


def _nearest_system_transport(
    composition: Composition, molarity: float, temperature: float
) -> tuple[float, float]:
    """(D m²/s, t₊) for a blend: the nearest Landesfeind–Gasteiger system, D scaled by viscosity.

    SURROGATE: no open model gives D and t₊ across the solvent simplex. The fit of the system whose
    solvent mass fractions are nearest (L1 distance) is evaluated at the cell's molarity and
    temperature clipped into the fits' range (0.1–2 mol/L, 263.15–323.15 K); D is then scaled by
    the Stokes–Einstein ratio η_system/η_blend of the electrolyte model's viscosity surrogate.
    """
    fractions = composition.solvent_fractions

    def distance(system_fractions: Mapping[str, float]) -> float:
        names = set(fractions) | set(system_fractions)
        return sum(abs(fractions.get(n, 0.0) - system_fractions.get(n, 0.0)) for n in names)

    system = min(LANDESFEIND_SYSTEMS.values(), key=lambda s: distance(s.solvent_fractions))
    c = min(max(molarity, 0.1), 2.0)
    t = min(max(temperature, 263.15), 323.15)
    diffusivity = float(system.diffusivity(c, t))
    transference = float(system.transference_number(c, t))
    try:
        ratio = carbonate_viscosity(c, system.solvent_fractions, t) / carbonate_viscosity(
            c, fractions, t
        )
    except LabctlError:
        ratio = 1.0
    return diffusivity * ratio, transference


def _electrolyte_parameters(masses: Mapping[str, float], temperature: float) -> dict[str, Any]:
    """CellState fields that follow from the electrolyte (``{"dry": True}`` for an empty cell)."""
    known = {
        name: mass
        for name, mass in masses.items()
        if (name in SOLVENTS or name in SALTS) and mass > 0
    }
    if not any(name in SOLVENTS for name in known):
        if sum(masses.values()) <= 0:
            return {"dry": True}
        unknown = ", ".join(sorted(masses))
        raise LabctlError(
            f"the cell holds no solvent the electrolyte model knows ({unknown}); known: "
            f"{', '.join(SOLVENTS)}"
        )
    composition = Composition.from_masses(known)
    properties = electrolyte_properties(composition, temperature)
    molarity = properties.molarity / 1000.0
    diffusivity, transference = _nearest_system_transport(composition, molarity, temperature)
    capacitive = DEFAULT_STABILITY.double_layer_capacitance * _STABILITY_SWEEP_RATE
    return {
        "dry": False,
        "conductivity": max(properties.conductivity, 1e-9),
        "oxidation_limit": properties.stability_limit,
        # The model's limit is where faradaic + C_dl·v reaches j_cut at 1 mV/s.
        "oxidation_cutoff": properties.stability_cutoff - capacitive,
        "oxidation_transfer_coefficient": DEFAULT_STABILITY.transfer_coefficient,
        "salt_concentration": max(properties.molarity, 1e-6),
        "salt_diffusivity": diffusivity,
        "transference_number": transference,
    }


def _contents_key(masses: Mapping[str, float]) -> tuple[tuple[str, float], ...]:
    """The electrolyte's identity: mass fractions rounded to 1e-9 (a partial removal keeps it)."""
    total = sum(masses.values())
    if total <= 0:
        return ()
    return tuple(sorted((name, round(mass / total, 9)) for name, mass in masses.items()))


_FIELDS = {f.name for f in dataclasses.fields(CellState)} - {"electrode"}


def cell_state(world: Any, cell_name: str) -> CellState:
    """The electrochemical state of ``world.cells[cell_name]``.

    * Geometry from the cell: ``cell_constant`` (1/cm → 1/m), ``electrode_area`` (cm² → m²),
      ``temperature`` (K).
    * Electrolyte-derived parameters are recomputed from the cell's *current* contents with
      :func:`labctl.simulators.electrolyte.model.electrolyte_properties`: κ (so
      R_s = K_cell/κ), the oxidative stability limit (onset of the decomposition current), the
      salt molarity c0; D and t₊ from the nearest Landesfeind–Gasteiger system (SURROGATE, see
      :func:`_nearest_system_transport`). Unknown components (not a known solvent or salt) are
      ignored; an empty cell is dry: an open circuit (1e12 Ω ∥ 1 pF, no current flows).
    * No redox probe (``redox_concentration`` 0) unless the overrides say so.
    * ``cell.properties["electrochem_parameters"]`` (optional): CellState field → value
      overrides (e.g. ``{"redox_concentration": 1.0, "metal_charge": 10.0}``).
    * The electrode's memory (plated charge, diffusion modes, double-layer potential, dendrite,
      short) lives in ``cell.properties["electrochem"]`` (an :class:`ElectrodeState`) and survives
      between calls; a change of the electrolyte (its mass fractions) resets the concentration
      profile but keeps the metal on the electrode. Remove that key for a fresh electrode.

    Raises:
        KeyError: no such cell.
        ValueError: an unknown override name.
        LabctlError: the contents hold no solvent the electrolyte model knows.
    """
    with world.lock:
        cell = world.cells[cell_name]
        properties = cell.properties
        overrides = dict(properties.get(PARAMETERS_KEY, {}))
        unknown = set(overrides) - _FIELDS
        if unknown:
            raise ValueError(
                f"cell {cell_name!r}: unknown electrochem parameters {sorted(unknown)}; "
                f"known: {sorted(_FIELDS)}"
            )
        masses = dict(cell.contents.masses)
        key = _contents_key(masses)
        cached = properties.get(_DERIVED_KEY)
        if cached is not None and cached[0] == (key, cell.temperature):
            derived = cached[1]
        else:
            derived = _electrolyte_parameters(masses, cell.temperature)
            properties[_DERIVED_KEY] = ((key, cell.temperature), derived)
        memory = properties.get(PROPERTIES_KEY)
        if not isinstance(memory, ElectrodeState):
            memory = ElectrodeState(plated_charge=float(overrides.get("metal_charge", 0.0)))
            memory.contents_key = key
            properties[PROPERTIES_KEY] = memory
        elif memory.contents_key != key:
            memory.reset_transport()
            memory.contents_key = key
        fields: dict[str, Any] = {
            "temperature": cell.temperature,
            "cell_constant": cell.cell_constant * 100.0,
            "electrode_area": cell.electrode_area * 1e-4,
            "redox_concentration": 0.0,
        }
        fields.update(derived)
        fields.update(overrides)
        return CellState(**fields, electrode=memory)
