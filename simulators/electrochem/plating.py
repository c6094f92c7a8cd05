"""Metal plating and stripping under galvanostatic steps (one model for every twin that plates).

The potentiostat twins (CP, pulse trains, plate/strip, OCV) and the scanning-droplet-cell twin use
this module unchanged: give it a :class:`~labctl.simulators.electrochem.state.CellState` and a list
of constant-current segments and it returns the cell voltage.

Physics, per time step Δt at applied current I (IUPAC sign: plating I < 0):

* **Salt transport** — the exact modal Nernst-layer solver of
  :mod:`labctl.simulators.electrochem.diffusion` (REFERENCES 2.2), flux
  N = −(1 − t₊)·i_M/(zFA), the surface concentration c_s = P + Q·N exactly linear in N.
* **Metal kinetics** — concentration-dependent Butler–Volmer (Bard & Faulkner, *Electrochemical
  Methods*, 2nd ed., eq. 3.4.10, the reduced species being the metal itself):

      i_M = A·j0·[m·exp((1 − α)zf(E − E_M)) − (c_s/c0)·exp(−αzf(E − E_M))],   f = F/(RT),

  m = 1 while metal is on the electrode, 0 on the bare substrate (no anodic metal branch). At
  i_M = 0 it gives the metal's Nernst term E = E_M + (RT/zF) ln(c_s/c0); at a current it adds the
  charge-transfer overpotential. Solved jointly with the transport (c_s through P + Q·N), which
  makes i_M → the transport-limited value as c_s → 0 and the potential diverge at Sand's time.
* **Double-layer filtering** — the faradaic current is i_F = I − C_dl·A·dE/dt (REFERENCES 2.3),
  integrated with backward Euler on steps that grow geometrically from τ/10 after every current
  change (τ ≈ R_ct·C_dl ≈ 0.5 ms for Li), so millisecond pulses are smoothed as in a real cell.
* **Background currents** — electrolyte and substrate oxidation, leakage, reduction side reaction
  (:mod:`labctl.simulators.electrochem.decomposition`): once stripping has exhausted the plated
  metal, the potential jumps toward the substrate's oxidation — the plate/strip cut-off.
* **Cell voltage** — E_cell = E + I·R_s (iR drop), clipped at ±compliance; when no interfacial
  potential within ±compliance carries I (beyond Sand's time) the interface sits at the bound and
  the excess current goes to unmodelled side reactions.
* **Dendrites, Coulombic efficiency, shorts** — SURROGATE of
  :mod:`labctl.simulators.electrochem.dendrite` (REFERENCES 2.4); a short makes the cell a
  resistor: E_cell = I·R_short. A roughening deposit (SURROGATE roughness factor
  ρ = 1 + k_ρ·DI, :meth:`~labctl.simulators.electrochem.state.ElectrodeState.roughness`) offers
  the metal couple more area, so the plating overpotential falls as the dendrite index grows —
  the signature a reducer can read off the measured potential.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from labctl.simulators.electrochem import dendrite
from labctl.simulators.electrochem.constants import FARADAY, GAS_CONSTANT
from labctl.simulators.electrochem.decomposition import background_current, safe_exp
from labctl.simulators.electrochem.diffusion import ModalDiffusion
from labctl.simulators.electrochem.state import CellState, ElectrodeState

__all__ = [
    "MetalInterface",
    "Segment",
    "StopRule",
    "galvanostatic",
    "open_circuit_potential",
    "solve_increasing",
]

FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True)
class Segment:
    """A constant-current segment of a galvanostatic run.

    Args:
        duration: s (> 0).
        current: A (IUPAC: plating < 0).
        label: a name (``"plate"``, ``"rest"``, ``"strip"``) stop rules refer to.
    """

    duration: float
    current: float
    label: str = ""


@dataclass(frozen=True)
class StopRule:
    """End the run at the first sample of segment ``label`` with a cell voltage beyond ``cutoff``.

    Args:
        label: the segment the rule watches.
        cutoff: V.
        rising: True: stop when E > cutoff; False: when E < cutoff.
    """

    label: str
    cutoff: float
    rising: bool = True


def solve_increasing(
    function: Callable[[float], tuple[float, float]],
    low: float,
    high: float,
    guess: float,
    tolerance: float = 1e-10,
) -> float:
    """The root of an increasing function on [low, high] (Newton safeguarded by bisection).

    Converges to ``low`` (``high``) when the function is positive (negative) on the whole
    interval.

    Args:
        function: x → (g(x), g'(x)) with g increasing.
        low: lower bound.
        high: upper bound.
        guess: starting point (clipped into the bounds).
        tolerance: absolute tolerance on x.
    """
    x = min(max(guess, low), high)
    for _ in range(200):
        g, slope = function(x)
        if g == 0:
            return x
        if g > 0:
            high = x
        else:
            low = x
        candidate = x - g / slope if slope > 0 else 0.5 * (low + high)
        if not low <= candidate <= high:
            candidate = 0.5 * (low + high)
        if abs(candidate - x) < tolerance or high - low < tolerance:
            return candidate
        x = candidate
    return x


class MetalInterface:
    """The metal couple coupled to salt transport, for one electrode over one run.

    Holds the diffusion solver and reads/writes the mode amplitudes of ``memory``.

    Args:
        state: the cell's parameters.
        memory: the electrode's persistent state (its ``modes`` and ``flux`` are updated).
    """

    def __init__(self, state: CellState, memory: ElectrodeState) -> None:
        self.state = state
        self.memory = memory
        self.diffusion = ModalDiffusion(
            state.salt_concentration,
            state.salt_diffusivity,
            state.diffusion_layer,
            state.diffusion_modes,
        )
        if memory.modes.shape != (state.diffusion_modes,):
            memory.modes = self.diffusion.fresh()
            memory.flux = 0.0
        f = FARADAY / (GAS_CONSTANT * state.temperature)
        z = state.metal_electrons
        self.anodic = (1.0 - state.metal_transfer_coefficient) * z * f
        self.cathodic = state.metal_transfer_coefficient * z * f
        self.scale = state.electrode_area * state.metal_exchange_current
        self.flux_per_current = -(1.0 - state.transference_number) / (
            z * FARADAY * state.electrode_area
        )
        self._p = state.salt_concentration
        self._q = 0.0
        self._ratio = 1.0
        self._coupling = 0.0
        self._duration = 0.0

    def surface_concentration(self) -> float:
        """c_s now, mol/m³."""
        return self.diffusion.surface(self.memory.modes, self.memory.flux)

    def prepare(self, duration: float) -> None:
        """Set up the next step of ``duration`` (s): the linear response c_s = P + Q·N.

        The exchange current is that of the deposit's electroactive area: the geometric area
        times the SURROGATE roughness factor :meth:`ElectrodeState.roughness` (1 by default).
        """
        self._duration = duration
        self.scale = (
            self.state.electrode_area
            * self.state.metal_exchange_current
            * self.memory.roughness(self.state)
        )
        self._p, self._q = self.diffusion.linear_response(
            self.memory.modes, self.memory.flux, duration
        )
        c0 = self.state.salt_concentration
        self._ratio = max(self._p / c0, 0.0)
        # c_s/c0 = P/c0 + K·i_M with K = Q·(flux per current)/c0 ≥ 0 (for t₊ < 1).
        self._coupling = max(self._q * self.flux_per_current / c0, 0.0)

    def current(self, potential: float, available: float) -> tuple[float, float]:
        """i_M at the end of the step and di_M/dE (A, A/V), transport solved implicitly.

        The anodic (stripping) partial current is capped at ``available``/Δt: a deposit cannot
        give more than it holds, so when it runs out within a step the rest of the current has
        to find another reaction (the double layer, substrate or electrolyte oxidation).

        Args:
            potential: interfacial potential E, V.
            available: metal on the electrode, C (0: bare, no anodic branch).
        """
        eta = potential - self.state.metal_potential
        u = self.scale
        anodic, d_anodic = 0.0, 0.0
        if available > 0:
            anodic = u * safe_exp(self.anodic * eta)
            cap = available / self._duration
            if anodic > cap:
                anodic = cap
            else:
                d_anodic = self.anodic * anodic
        ec = safe_exp(-self.cathodic * eta)
        cathodic = u * self._ratio * ec
        denominator = 1.0 + u * self._coupling * ec
        value = (anodic - cathodic) / denominator
        d_numerator = d_anodic + self.cathodic * cathodic
        d_denominator = -u * self._coupling * self.cathodic * ec
        return value, (d_numerator - value * d_denominator) / denominator

    def commit(self, metal_current: float) -> float:
        """Advance the transport with i_M (A) over the prepared step; returns c_s after it."""
        flux = self.flux_per_current * metal_current
        surface = self._p + self._q * flux
        self.memory.modes = self.diffusion.advance(
            self.memory.modes, self.memory.flux, flux, self._duration
        )
        self.memory.flux = flux
        return surface


def open_circuit_potential(state: CellState) -> float:
    """The electrode's potential at rest, V.

    Its stored double-layer potential if any, else the metal's Nernst potential
    E_M + (RT/zF) ln(c_s/c0) with metal on it, else the bare electrode's rest potential.
    """
    memory = state.memory
    if memory.interfacial_potential is not None:
        return memory.interfacial_potential
    if memory.plated_charge > 0:
        c0 = state.salt_concentration
        surface = c0
        if memory.modes.size:
            surface = memory.surface_concentration(state)
        thermal = GAS_CONSTANT * state.temperature / (state.metal_electrons * FARADAY)
        return state.metal_potential + thermal * math.log(max(surface, 1e-12 * c0) / c0)
    return state.rest_potential


def _relaxation_time(state: CellState) -> float:
    """τ = R_ct·C_dl of the metal couple (and never above 1 s), s."""
    return min(state.charge_transfer_resistance * state.capacitance, 1.0)


class _Galvanostat:
    """One galvanostatic run on one electrode (internal)."""

    def __init__(self, state: CellState, compliance: float) -> None:
        self.state = state
        self.memory = state.memory
        self.compliance = compliance
        self.metal = MetalInterface(state, self.memory)
        self.potential = open_circuit_potential(state)
        self.capacitance = state.capacitance

    def step(self, current: float, duration: float) -> float:
        """Advance by ``duration`` (s) at ``current`` (A); returns the interfacial potential."""
        state, memory = self.state, self.memory
        if memory.shorted or state.dry:
            self.metal.prepare(duration)
            self.metal.commit(0.0)
            return self.potential
        self.metal.prepare(duration)
        previous = self.potential
        charge_rate = self.capacitance / duration
        available = memory.plated_charge

        def balance(potential: float) -> tuple[float, float]:
            i_metal, d_metal = self.metal.current(potential, available)
            i_background, d_background = background_current(potential, state)
            value = charge_rate * (potential - previous) + i_metal + i_background
            return value - current, charge_rate + d_metal + d_background

        bound = self.compliance
        potential = solve_increasing(balance, -bound, bound, previous)
        i_metal, _ = self.metal.current(potential, available)
        surface = self.metal.commit(i_metal)
        if i_metal < 0:
            dendrite.grow(state, memory, -i_metal * duration, duration, surface)
        elif i_metal > 0:
            dendrite.strip(memory, i_metal * duration)
        self.potential = potential
        return potential

    def cell_voltage(self, current: float) -> float:
        """E_cell = E + I·R_s (or I·R_short when shorted), clipped at ±compliance, V."""
        state = self.state
        bound = self.compliance
        if state.dry:
            if current == 0:
                return self.potential
            return math.copysign(bound, current)
        if self.memory.shorted:
            value = current * state.short_resistance
        else:
            value = self.potential + current * state.solution_resistance
        return min(max(value, -bound), bound)


def galvanostatic(
    state: CellState,
    segments: Sequence[Segment],
    interval: float,
    *,
    compliance: float | None = None,
    stop: StopRule | None = None,
) -> dict[str, FloatArray]:
    """Run constant-current ``segments`` back to back, sampled every ``interval``.

    The electrode's memory (``state.memory``) is updated: plated charge, diffusion modes,
    double-layer potential, dendrite, short.

    Args:
        state: the cell (its ``electrode`` is mutated).
        segments: the current program.
        interval: sampling interval, s; samples at interval·k, k = 1…n (n = ⌊total/interval⌋).
        compliance: largest |cell voltage|, V (default ``state.default_compliance``).
        stop: optional stop rule (plate/strip's cut-off).

    Returns:
        ``time`` (s), ``potential`` (V, cell voltage), ``current`` (A, applied), noiseless.
    """
    if not interval > 0:
        raise ValueError(f"interval must be > 0 s, got {interval}")
    bound = state.default_compliance if compliance is None else compliance
    run = _Galvanostat(state, bound)
    durations = [segment.duration for segment in segments]
    total = math.fsum(durations)
    count = math.floor(total / interval + 1e-9)
    ends = np.cumsum(durations)
    epsilon = 1e-12 * max(total, 1.0)
    smallest = 0.1 * _relaxation_time(state)
    times = np.empty(count)
    potentials = np.empty(count)
    currents = np.empty(count)
    now, index, since_change = 0.0, 0, 0.0
    last_current: float | None = None
    written = 0
    for sample in range(1, count + 1):
        target = sample * interval
        current = segments[min(index, len(segments) - 1)].current
        while now < target - epsilon:
            while index < len(segments) - 1 and now >= ends[index] - epsilon:
                index += 1
            segment = segments[index]
            current = segment.current
            if last_current is None or current != last_current:
                since_change = 0.0
                last_current = current
            step = min(target - now, ends[index] - now, max(smallest, since_change))
            if step <= epsilon:
                step = target - now
            run.step(current, step)
            now += step
            since_change += step
        label = segments[index].label
        voltage = run.cell_voltage(current)
        times[written] = target
        potentials[written] = voltage
        currents[written] = current
        written += 1
        if stop is not None and label == stop.label:
            beyond = voltage > stop.cutoff if stop.rising else voltage < stop.cutoff
            if beyond:
                break
    state.memory.elapsed += now
    state.memory.probe_history = None
    state.memory.interfacial_potential = run.potential
    return {
        "time": times[:written],
        "potential": potentials[:written],
        "current": currents[:written],
    }
