"""Randles equivalent circuit for potentiostatic EIS (pure functions; SI units).

The pinned formula (REFERENCES 3; the analysis helper's fit uses exactly this form):

    Z(ω) = R_s + jωL + 1 / (jωC_dl + 1/(R_ct + Z_W)),    Z_W = σ ω^(−½) (1 − j),

a semi-infinite Warburg element (Randles, Discuss. Faraday Soc. 1, 11 (1947); Bard & Faulkner,
*Electrochemical Methods*, 2nd ed., §10.3). With the IUPAC convention Z = Z′ + jZ″, a capacitive
cell has Z″ < 0. Limits used as checks: Z → R_s at high ω (with L = 0); the charge-transfer
semicircle has its apex, of height ≈ R_ct/2, at ω = 1/(R_ct C_dl); at low ω the Warburg line runs
at 45° (−Z″ = Z′ − R_s − R_ct + 2σ²C_dl for Warburg-dominated ω).

Parameters from the electrode:

* R_ct = RT/(zF·j0·A): the linearised Butler–Volmer law about equilibrium (α_a + α_c = 1);
* σ for metal deposition from a binary salt (cation flux (1 − t₊)j/(zF) into semi-infinite
  diffusion; concentration overpotential (RT/zF) ln(c_s/c0), thermodynamic factor taken as 1):
  σ = RT(1 − t₊)/(√2·z²F²·A·c0·√D).
"""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt

from labctl.simulators.electrochem.constants import FARADAY, GAS_CONSTANT

__all__ = [
    "charge_transfer_resistance",
    "open_circuit_impedance",
    "randles_impedance",
    "warburg_coefficient",
]

ComplexArray = npt.NDArray[np.complex128]


def charge_transfer_resistance(
    exchange_current_density: float, area: float, temperature: float, electrons: int = 1
) -> float:
    """R_ct = RT/(nF·i0·A), Ω.

    Args:
        exchange_current_density: i0, A/m².
        area: electrode area A, m².
        temperature: T, K.
        electrons: n (z of a metal ion).
    """
    return GAS_CONSTANT * temperature / (electrons * FARADAY * exchange_current_density * area)


def warburg_coefficient(
    concentration: float,
    diffusivity: float,
    area: float,
    temperature: float,
    *,
    electrons: int = 1,
    transference_number: float = 0.0,
) -> float:
    """σ = RT(1 − t₊)/(√2·n²F²·A·c0·√D), Ω·s^(−½) (metal deposition from a binary salt).

    With ``transference_number`` = 0 it is the textbook σ of one diffusing species
    (Bard & Faulkner eq. 10.3.27 with c_R → ∞).

    Args:
        concentration: bulk concentration c0, mol/m³.
        diffusivity: D, m²/s.
        area: A, m².
        temperature: T, K.
        electrons: n.
        transference_number: cation transference number t₊.
    """
    return (
        GAS_CONSTANT
        * temperature
        * (1.0 - transference_number)
        / (
            math.sqrt(2.0)
            * electrons**2
            * FARADAY**2
            * area
            * concentration
            * math.sqrt(diffusivity)
        )
    )


def randles_impedance(
    frequency: npt.ArrayLike,
    solution_resistance: float,
    double_layer_capacitance: float,
    charge_transfer_resistance: float,
    warburg_coefficient: float,
    inductance: float = 0.0,
) -> ComplexArray:
    """Z(f) of the Randles cell (the pinned formula of the module docstring), Ω.

    Args:
        frequency: f, Hz (> 0), any shape.
        solution_resistance: R_s, Ω.
        double_layer_capacitance: C_dl, F (the electrode's, not per area).
        charge_transfer_resistance: R_ct, Ω.
        warburg_coefficient: σ, Ω·s^(−½).
        inductance: L, H.

    Returns:
        Complex Z with the shape of ``frequency``.
    """
    omega = 2.0 * np.pi * np.asarray(frequency, dtype=np.float64)
    warburg = warburg_coefficient / np.sqrt(omega) * (1.0 - 1.0j)
    faradaic = charge_transfer_resistance + warburg
    result: ComplexArray = np.asarray(
        solution_resistance
        + 1.0j * omega * inductance
        + 1.0 / (1.0j * omega * double_layer_capacitance + 1.0 / faradaic),
        dtype=np.complex128,
    )
    return result


def open_circuit_impedance(
    frequency: npt.ArrayLike, resistance: float, capacitance: float
) -> ComplexArray:
    """Z of an open (dry) cell: ``resistance`` in parallel with ``capacitance``, Ω.

    Args:
        frequency: f, Hz.
        resistance: Ω (≈ 1e12 for an open circuit).
        capacitance: stray capacitance, F.
    """
    omega = 2.0 * np.pi * np.asarray(frequency, dtype=np.float64)
    result: ComplexArray = np.asarray(
        1.0 / (1.0 / resistance + 1.0j * omega * capacitance), dtype=np.complex128
    )
    return result
