"""Potentiostatic techniques (CA, LSV, CV): redox probe, capacitive, decomposition, metal currents.

Applied potential E_app(t) (a staircase, one value per sample); the interface sits at
E = E_app − i·R_s (uncompensated iR drop, R_s from the electrolyte). At each step the total current

    i = C_dl·A·dE/dt + i_redox(E) + i_M(E) + i_background(E) = (E_app − E)/R_s

is solved for E (backward Euler; every term rises with E, so the root is unique):

* **Redox probe** (one-electron by default, O + ne ⇌ R, bulk R only, D_O = D_R = D): the surface
  concentration of O is the convolution of the current with the semi-infinite diffusion kernel
  (Nicholson & Shain, Anal. Chem. 36, 706 (1964); Bard & Faulkner, *Electrochemical Methods*,
  2nd ed., §6.2 and §A.1.D):

      c_O(0, t) = (1/(nFA√(πD))) ∫₀ᵗ i(u)/√(t − u) du,   c_R(0, t) = c* − c_O(0, t).

  With the current constant on each step (the step-function method) the integral is exact:
  c_O(0, t_k) = H_k + w₀·i_k with weights wₘ = 2(√((m + 1)Δt) − √(mΔt))/(nFA√(πD)), so each step
  is a scalar equation: Nernst, c_O/c_R = exp(nf(E − E°′)), for a reversible probe, or
  Butler–Volmer i = nFAk0[c_R e^{(1−α)nfη} − c_O e^{−αnfη}] for a quasi-reversible one
  (Nicholson, Anal. Chem. 37, 1351 (1965)). Accuracy (tests): ΔE_p 57–62 mV and the forward peak
  within 3 % of Randles–Sevcik i_p = 0.4463·nFAC·√(nFvD/(RT)) at 25 °C. Cost O(n²) in the number
  of samples (0.05 s for 10 000). A run that *continues* the previous potentiostatic run (nothing
  ran in between and it starts within two steps of where that one ended — a CV sent as a list of
  sweeps) keeps the probe's diffusion layer; any other run starts from a uniform probe (its
  layer is taken to have relaxed during the quiet time before a measurement). The continued past
  is kept to 20 000 steps, older steps merged pairwise (charge conserved).
* **Capacitive** C_dl·A·dE/dt (≈ C_dl·A·v on a sweep). The double layer is charged to the first
  potential at t = 0: its charging spike (R_s·C_dl·A ≈ 0.1 ms) is over before the first sample.
* **Electrolyte oxidation** (SURROGATE onset from the electrolyte model), substrate oxidation,
  leakage, reduction side reaction — :mod:`labctl.simulators.electrochem.decomposition`.
* **Metal couple** with salt transport —
  :class:`labctl.simulators.electrochem.plating.MetalInterface`
  (plating below E_M, transport-limited; stripping while metal is there).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

from labctl.simulators.electrochem import dendrite
from labctl.simulators.electrochem.constants import FARADAY, GAS_CONSTANT
from labctl.simulators.electrochem.decomposition import background_current, safe_exp
from labctl.simulators.electrochem.plating import MetalInterface, solve_increasing
from labctl.simulators.electrochem.state import CellState

__all__ = [
    "RedoxProbe",
    "cv_program",
    "lsv_program",
    "potentiostatic",
    "randles_sevcik_current",
]

FloatArray = npt.NDArray[np.float64]


def randles_sevcik_current(
    electrons: int,
    area: float,
    concentration: float,
    diffusivity: float,
    scan_rate: float,
    temperature: float,
) -> float:
    """Reversible peak current i_p = 0.4463·nFAC·√(nFvD/(RT)), A (Bard & Faulkner eq. 6.2.19).

    Args:
        electrons: n.
        area: A, m².
        concentration: bulk C, mol/m³.
        diffusivity: D, m²/s.
        scan_rate: v, V/s.
        temperature: T, K.
    """
    f = electrons * FARADAY / (GAS_CONSTANT * temperature)
    return (
        0.4463
        * electrons
        * FARADAY
        * area
        * concentration
        * math.sqrt(f * scan_rate * diffusivity)
    )


def _polyline(points: Sequence[float], step: float) -> FloatArray:
    """Potentials every ``step`` (V) of path length along the polyline ``points`` (start out)."""
    corners = np.asarray(points, dtype=np.float64)
    lengths = np.abs(np.diff(corners))
    arc = np.concatenate([[0.0], np.cumsum(lengths)])
    count = round(float(arc[-1]) / step)
    positions = step * np.arange(1, count + 1)
    positions = np.minimum(positions, arc[-1])
    result: FloatArray = np.interp(positions, arc, corners)
    return result


def lsv_program(start: float, end: float, step: float) -> FloatArray:
    """Staircase potentials of an LSV, one per step (start excluded, end included), V."""
    return _polyline([start, end], step)


def cv_program(
    start: float, vertex1: float, vertex2: float, step: float, cycles: int = 1
) -> FloatArray:
    """Staircase potentials of a CV: start → vertex1 → vertex2 → start, ``cycles`` times, V."""
    corners = [start]
    for _ in range(cycles):
        corners += [vertex1, vertex2, start]
    return _polyline(corners, step)


_MERGE_RATIO = 0.002
"""Past steps are merged while a block's width stays below this fraction of its age."""
_EXACT_STEPS = 5_000
"""A past of up to this many steps is kept exactly (short experiments continue exactly)."""


def _coarsened(
    starts: FloatArray, ends: FloatArray, currents: FloatArray, *, now: float
) -> tuple[FloatArray, FloatArray, FloatArray]:
    """The past current steps with old ones merged into charge-conserving blocks.

    The convolution kernel √(t − s) − √(t − e) of a step long ago is smooth on the scale of the
    step, so neighbouring old steps can be replaced by one block carrying their charge with an
    error of order (width/age)²; blocks are allowed a width of :data:`_MERGE_RATIO` × their age.
    The past then holds O(log(T/Δt)/ratio) blocks instead of every step, which keeps each step of
    a long-continued experiment O(1) instead of growing with the whole history.
    """
    if starts.size <= _EXACT_STEPS:
        return starts, ends, currents
    out_starts: list[float] = []
    out_ends: list[float] = []
    out_charge: list[float] = []
    block_start, block_end = float(starts[-1]), float(ends[-1])
    block_charge = float(currents[-1]) * (block_end - block_start)
    for index in range(starts.size - 2, -1, -1):
        start, end = float(starts[index]), float(ends[index])
        charge = float(currents[index]) * (end - start)
        if block_end - start <= _MERGE_RATIO * (now - block_end):
            block_start = start
            block_charge += charge
            continue
        out_starts.append(block_start)
        out_ends.append(block_end)
        out_charge.append(block_charge)
        block_start, block_end, block_charge = start, end, charge
    out_starts.append(block_start)
    out_ends.append(block_end)
    out_charge.append(block_charge)
    merged_starts = np.asarray(out_starts[::-1])
    merged_ends = np.asarray(out_ends[::-1])
    merged_currents = np.asarray(out_charge[::-1]) / (merged_ends - merged_starts)
    return merged_starts, merged_ends, merged_currents


class RedoxProbe:
    """The probe's convolution memory over one run of ``count`` equal steps of ``duration`` s.

    Args:
        state: cell parameters (probe concentration, D, E°′, n, k0, α, T, area).
        duration: Δt of every step, s.
        count: number of steps.
        past: earlier current steps to continue from (start s, end s, current A), or ``None``.
        origin: time of this run's start on the clock of ``past``, s.
    """

    def __init__(
        self,
        state: CellState,
        duration: float,
        count: int,
        past: tuple[FloatArray, FloatArray, FloatArray] | None = None,
        origin: float = 0.0,
    ) -> None:
        self.concentration = state.redox_concentration
        self.active = self.concentration > 0
        n = state.redox_electrons
        self.nf = n * FARADAY / (GAS_CONSTANT * state.temperature)
        self.formal = state.redox_potential
        self.alpha = state.redox_transfer_coefficient
        self.rate = state.redox_rate_constant
        self.charge_scale = n * FARADAY * state.electrode_area
        m = np.arange(count + 1, dtype=np.float64)
        scale = 2.0 / (self.charge_scale * math.sqrt(math.pi * state.redox_diffusivity))
        self.weights = scale * (np.sqrt((m + 1.0) * duration) - np.sqrt(m * duration))
        self.reversed_weights = self.weights[::-1].copy()
        self.w0 = float(self.weights[0])
        self.scale = scale
        self.duration = duration
        self.origin = origin
        self.past = past if self.active and past is not None and past[0].size else None
        self.currents = np.zeros(count)
        self.history = 0.0

    def prepare(self, k: int) -> None:
        """Set the history term H_k (mol/m³) for step ``k`` (0-based)."""
        self.history = 0.0
        if not self.active:
            return
        if k > 0:
            # Σ_{j<k} i_j w_{k−j}: the reversed weights end with w_1 … w_k.
            size = len(self.reversed_weights)
            self.history = float(
                np.dot(self.currents[:k], self.reversed_weights[size - 1 - k : -1])
            )
        if self.past is not None:
            starts, ends, currents = self.past
            now = self.origin + (k + 1) * self.duration
            kernel = np.sqrt(now - starts) - np.sqrt(now - ends)
            self.history += self.scale * float(np.dot(currents, kernel))

    def current(self, potential: float) -> tuple[float, float]:
        """(i, di/dE) of the probe at interfacial potential E for the prepared step (A, A/V)."""
        if not self.active:
            return 0.0, 0.0
        c, h, w0 = self.concentration, self.history, self.w0
        x = self.nf * (potential - self.formal)
        if self.rate is None:
            if x >= 0:
                e = math.exp(-x)
                s = 1.0 / (1.0 + e)
            else:
                e = math.exp(x)
                s = e / (1.0 + e)
            return (c * s - h) / w0, c * s * (1.0 - s) * self.nf / w0
        b = self.charge_scale * self.rate
        ea = safe_exp((1.0 - self.alpha) * x)
        ec = safe_exp(-self.alpha * x)
        numerator = b * ((c - h) * ea - h * ec)
        denominator = 1.0 + b * w0 * (ea + ec)
        value = numerator / denominator
        d_numerator = b * ((c - h) * (1.0 - self.alpha) * ea + h * self.alpha * ec) * self.nf
        d_denominator = b * w0 * ((1.0 - self.alpha) * ea - self.alpha * ec) * self.nf
        return value, (d_numerator - value * d_denominator) / denominator

    def commit(self, k: int, current: float) -> None:
        """Remember i_k (A)."""
        if self.active:
            self.currents[k] = current

    def record(self, steps: int) -> tuple[FloatArray, FloatArray, FloatArray] | None:
        """The past to continue from after the first ``steps`` steps (``None``: no probe)."""
        if not self.active:
            return None
        starts = self.origin + self.duration * np.arange(steps, dtype=np.float64)
        ends = starts + self.duration
        currents = self.currents[:steps]
        if self.past is not None:
            starts = np.concatenate([self.past[0], starts])
            ends = np.concatenate([self.past[1], ends])
            currents = np.concatenate([self.past[2], currents])
        return _coarsened(starts, ends, currents, now=float(ends[-1]) if ends.size else 0.0)


class _Balance:
    """g(E) = i(E) − (E_app − E)/R_s for one potentiostatic step, increasing in E (internal)."""

    def __init__(
        self, state: CellState, metal: MetalInterface, probe: RedoxProbe, interval: float
    ) -> None:
        self.state = state
        self.metal = metal
        self.probe = probe
        self.capacitance_rate = state.capacitance / interval
        self.conductance = 1.0 / state.solution_resistance
        self.previous = 0.0
        self.target = 0.0
        self.available = 0.0

    def __call__(self, potential: float) -> tuple[float, float]:
        """(g, dg/dE) at interfacial potential E (A, A/V)."""
        i_probe, d_probe = self.probe.current(potential)
        i_metal, d_metal = self.metal.current(potential, self.available)
        i_background, d_background = background_current(potential, self.state)
        total = (
            self.capacitance_rate * (potential - self.previous) + i_probe + i_metal + i_background
        )
        return (
            total + (potential - self.target) * self.conductance,
            self.capacitance_rate + d_probe + d_metal + d_background + self.conductance,
        )


def potentiostatic(
    state: CellState,
    potentials: npt.ArrayLike,
    interval: float,
    initial: float,
) -> dict[str, FloatArray]:
    """Hold the staircase ``potentials`` (one per sample, V) for ``interval`` s each.

    Args:
        state: the cell (its ``electrode`` memory is updated).
        potentials: applied potential of each step, V; sample k at t = k·interval.
        interval: Δt, s.
        initial: applied potential at t = 0, V (the double layer starts charged to it).

    Returns:
        ``time`` (s), ``potential`` (V, applied), ``current`` (A), noiseless.
    """
    applied = np.asarray(potentials, dtype=np.float64).ravel()
    count = applied.size
    if not interval > 0:
        raise ValueError(f"interval must be > 0 s, got {interval}")
    times = interval * np.arange(1, count + 1, dtype=np.float64)
    currents = np.empty(count)
    memory = state.memory
    blocked = state.dry or memory.shorted
    if blocked:
        resistance = state.open_circuit_resistance if state.dry else state.short_resistance
        currents[:] = applied / resistance
        metal = MetalInterface(state, memory)
        metal.prepare(interval * count)
        metal.commit(0.0)
        memory.probe_history = None
        memory.elapsed += interval * count
        return {"time": times, "potential": applied.copy(), "current": currents}
    metal = MetalInterface(state, memory)
    step = abs(float(applied[0]) - initial) if count else 0.0
    continues = (
        memory.probe_history is not None
        and abs(initial - memory.probe_potential) <= 2.0 * step + 1e-9
    )
    past = memory.probe_history if continues else None
    probe = RedoxProbe(state, interval, count, past, memory.elapsed)
    balance = _Balance(state, metal, probe, interval)
    bound = state.default_compliance
    # The double layer starts charged to the first potential (see the module docstring).
    balance.previous = initial
    for k in range(count):
        target = float(applied[k])
        metal.prepare(interval)
        probe.prepare(k)
        balance.target = target
        balance.available = memory.plated_charge
        potential = solve_increasing(balance, target - bound, target + bound, balance.previous)
        i_metal, _ = metal.current(potential, balance.available)
        i_probe, _ = probe.current(potential)
        i_background, _ = background_current(potential, state)
        probe.commit(k, i_probe)
        surface = metal.commit(i_metal)
        if i_metal < 0:
            dendrite.grow(state, memory, -i_metal * interval, interval, surface)
        elif i_metal > 0:
            dendrite.strip(memory, i_metal * interval)
        charging = balance.capacitance_rate * (potential - balance.previous)
        currents[k] = charging + i_probe + i_metal + i_background
        balance.previous = potential
        if memory.shorted:
            currents[k + 1 :] = applied[k + 1 :] / state.short_resistance
            break
    memory.probe_history = None if memory.shorted else probe.record(count)
    memory.probe_potential = float(applied[-1]) if count else initial
    memory.elapsed += interval * count
    memory.interfacial_potential = balance.previous
    return {"time": times, "potential": applied.copy(), "current": currents}
