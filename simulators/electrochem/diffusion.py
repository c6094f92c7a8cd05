"""Exact modal solution of 1-D salt diffusion in a Nernst layer under piecewise-constant flux.

REFERENCES 2.2 (re-derived here). The salt concentration c(x, t) obeys ∂c/∂t = D ∂²c/∂x² on
0 < x < δ with c(δ, t) = c0 (the bulk beyond the Nernst layer) and a consumption flux
N(t) = (1 − t₊)·j(t)/(zF) at the electrode x = 0 (−D ∂c/∂x = −N; plating, j < 0 in IUPAC sign,
consumes cations: N > 0 there, so this module takes N with plating positive).

For constant N the steady profile is c0 − N(δ − x)/D. The deviation from it lives on the
eigenfunctions cos(kₙx), kₙ = (2n − 1)π/(2δ), which decay as exp(−D kₙ² t). Because (δ − x) has the
cosine coefficients 2/(δkₙ²), a flux step N₁ → N₂ adds (N₂ − N₁)·gₙ, gₙ = 2/(D δ kₙ²), to each
mode amplitude aₙ, and the surface concentration is

    c_s = c0 − Nδ/D + Σₙ aₙ.

Between steps the update is exact (no time-step error); only the truncation to a finite number of
modes approximates, and it matters only for times shorter than 1/(D k_max²).

Checks (Bard & Faulkner, *Electrochemical Methods*, 2nd ed., §8.2; Sand, Phil. Mag. 1, 45 (1901)):
semi-infinite Duhamel solution c_s(t) = c0 − (2/√(πD)) Σₖ (Nₖ − Nₖ₋₁) √(t − tₖ), and Sand's time
t_s = πD(zc0F)²/(4J²(1 − t₊)²) for a 1:1 salt at constant current density J.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from labctl.simulators.electrochem.constants import FARADAY

__all__ = ["ModalDiffusion", "sand_time", "semi_infinite_surface_concentration"]

FloatArray = npt.NDArray[np.float64]


def sand_time(
    concentration: float,
    diffusivity: float,
    current_density: float,
    transference_number: float,
    electrons: int = 1,
) -> float:
    """Sand's time t_s = πD(zc0F)²/(4J²(1 − t₊)²), s (binary 1:1 or z:z salt, REFERENCES 2.1).

    Args:
        concentration: bulk salt concentration c0, mol/m³.
        diffusivity: ambipolar salt diffusivity D, m²/s.
        current_density: |J|, A/m².
        transference_number: t₊ (the formula holds for any t₊ < 1).
        electrons: z.
    """
    return (
        math.pi
        * diffusivity
        * (electrons * concentration * FARADAY) ** 2
        / (4.0 * current_density**2 * (1.0 - transference_number) ** 2)
    )


def semi_infinite_surface_concentration(
    times: npt.ArrayLike,
    step_times: npt.ArrayLike,
    fluxes: npt.ArrayLike,
    concentration: float,
    diffusivity: float,
) -> FloatArray:
    """Duhamel's semi-infinite solution c_s(t) for a piecewise-constant flux, mol/m³.

    Args:
        times: where to evaluate, s.
        step_times: tₖ at which the flux changes to ``fluxes[k]`` (first one usually 0), s.
        fluxes: Nₖ, mol/(m²·s), plating (consumption) positive.
        concentration: c0, mol/m³.
        diffusivity: D, m²/s.
    """
    t = np.asarray(times, dtype=np.float64)[..., None]
    starts = np.asarray(step_times, dtype=np.float64)
    n = np.asarray(fluxes, dtype=np.float64)
    jumps = np.diff(np.concatenate([[0.0], n]))
    elapsed = np.sqrt(np.clip(t - starts, 0.0, None))
    result: FloatArray = concentration - 2.0 / math.sqrt(math.pi * diffusivity) * (
        elapsed * jumps
    ).sum(axis=-1)
    return result


@dataclass
class ModalDiffusion:
    """The modal solver for one Nernst layer (REFERENCES 2.2; see the module docstring).

    The state (mode amplitudes and the flux they refer to) is passed in and out, so one solver
    serves any number of electrodes and the caller keeps the memory.

    Args:
        concentration: bulk c0, mol/m³.
        diffusivity: D, m²/s.
        thickness: Nernst layer δ, m.
        modes: number of modes kept.
    """

    concentration: float
    diffusivity: float
    thickness: float
    modes: int = 400
    wavenumbers: FloatArray = field(init=False, repr=False)
    gains: FloatArray = field(init=False, repr=False)
    rates: FloatArray = field(init=False, repr=False)
    _decay_cache: dict[float, FloatArray] = field(init=False, repr=False, default_factory=dict)

    def __post_init__(self) -> None:
        n = np.arange(1, self.modes + 1, dtype=np.float64)
        self.wavenumbers = (2.0 * n - 1.0) * np.pi / (2.0 * self.thickness)
        self.gains = 2.0 / (self.diffusivity * self.thickness * self.wavenumbers**2)
        self.rates = self.diffusivity * self.wavenumbers**2

    def fresh(self) -> FloatArray:
        """Mode amplitudes of a uniform electrolyte (all zero)."""
        return np.zeros(self.modes)

    def surface(self, amplitudes: FloatArray, flux: float) -> float:
        """c_s = c0 − Nδ/D + Σ aₙ, mol/m³."""
        return float(
            self.concentration - flux * self.thickness / self.diffusivity + amplitudes.sum()
        )

    def decay(self, duration: float) -> FloatArray:
        """exp(−D kₙ² Δt) for each mode (cached by Δt)."""
        cached = self._decay_cache.get(duration)
        if cached is None:
            cached = np.exp(-self.rates * duration)
            if len(self._decay_cache) < 256:
                self._decay_cache[duration] = cached
        return cached

    def linear_response(
        self, amplitudes: FloatArray, flux: float, duration: float
    ) -> tuple[float, float]:
        """(P, Q) with c_s(t + Δt) = P + Q·N for a new flux N held for Δt.

        P = c0 + Σ (aₙ − N_old gₙ)·exp(−D kₙ² Δt) is the surface concentration at zero flux and
        Q = −δ/D + Σ gₙ·exp(−D kₙ² Δt) ≤ 0 its (exact, linear) response to the flux.

        Args:
            amplitudes: aₙ now, mol/m³.
            flux: N_old, the flux the amplitudes refer to, mol/(m²·s).
            duration: Δt, s.
        """
        decay = self.decay(duration)
        p = self.concentration + float(np.dot(amplitudes - flux * self.gains, decay))
        q = -self.thickness / self.diffusivity + float(np.dot(self.gains, decay))
        return p, min(q, 0.0)

    def advance(
        self, amplitudes: FloatArray, flux: float, new_flux: float, duration: float
    ) -> FloatArray:
        """Amplitudes after switching from ``flux`` to ``new_flux`` and holding it for Δt.

        Args:
            amplitudes: aₙ, mol/m³.
            flux: the old flux N_old, mol/(m²·s).
            new_flux: N, mol/(m²·s).
            duration: Δt, s.
        """
        result: FloatArray = (amplitudes + (new_flux - flux) * self.gains) * self.decay(duration)
        return result
