"""Electrolyte conductivity from a cell's resistance, and the blocking-electrode cell fit.

A conductivity cell of cell constant K_cell (m⁻¹) filled with an electrolyte of conductivity κ
has the bulk (solution) resistance R_b = K_cell/κ, so κ = K_cell/R_b (IUPAC Green Book §2.13;
Bard & Faulkner 2nd ed. §2.3). Between blocking electrodes the cell's spectrum is
(REFERENCES §1.3; Orazem & Tribollet, *EIS* 2nd ed. §13.2 for the constant-phase element)::

    Z(ω) = R_b + jωL + 1/(Q (jω)^α)

with L the stray inductance of the leads, Q the CPE coefficient (F s^(α−1)) and 0 < α ≤ 1 its
exponent (α = 1: an ideal double-layer capacitor). The fit uses the modulus-weighted least squares
of ``labctl.analysis._fit`` over ln R_b, ln Q, α and L/L₀.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike

from labctl.analysis._arrays import FloatArray, finite_scalar, line_fit, require_finite
from labctl.analysis._fit import ComplexArray, ModelWithJacobian, fit_complex
from labctl.analysis._spectrum import Spectrum, spectrum
from labctl.analysis.errors import AnalysisError
from labctl.analysis.parameters import FittedParameter

__all__ = [
    "BlockingCellFit",
    "Conductivity",
    "blocking_cell_impedance",
    "conductivity_from_resistance",
    "fit_blocking_cell",
]

_ANALYSIS = "blocking-cell fit"
_HIGHEST_EXPONENT = 1.05
"""α a little above 1 is noise around an ideal capacitor; beyond it the model does not apply."""


@dataclass(frozen=True)
class Conductivity:
    """Result of :func:`conductivity_from_resistance`."""

    value: float
    """κ = K_cell/R, in S/m."""
    uncertainty: float
    """Standard uncertainty of κ in S/m: u_κ/κ = √((u_R/R)² + (u_K/K)²) (first-order
    propagation, GUM JCGM 100:2008 §5.1)."""
    resistance: float
    """The solution (bulk) resistance R used, in ohm."""
    cell_constant: float
    """The cell constant K_cell used, in 1/m."""


def conductivity_from_resistance(
    solution_resistance: float | FittedParameter,
    cell_constant_per_m: float,
    *,
    resistance_uncertainty: float | None = None,
    cell_constant_uncertainty: float = 0.0,
) -> Conductivity:
    """κ = K_cell/R_s, with its propagated standard uncertainty.

    Args:
        solution_resistance: R_s in ohm, or a fitted parameter (its uncertainty is then used).
        cell_constant_per_m: K_cell in 1/m (a cell constant of 1 cm⁻¹ is 100 m⁻¹).
        resistance_uncertainty: u(R_s) in ohm; defaults to the fitted parameter's, else 0.
        cell_constant_uncertainty: u(K_cell) in 1/m.

    Raises:
        AnalysisError: a resistance or cell constant that is not finite and positive.
    """
    analysis = "conductivity"
    if isinstance(solution_resistance, FittedParameter):
        if resistance_uncertainty is None:
            resistance_uncertainty = solution_resistance.uncertainty
        solution_resistance = solution_resistance.value
    resistance = finite_scalar(analysis, "solution_resistance", solution_resistance, positive=True)
    constant = finite_scalar(analysis, "cell_constant_per_m", cell_constant_per_m, positive=True)
    u_resistance = float(resistance_uncertainty or 0.0)
    u_constant = float(cell_constant_uncertainty)
    if not (u_resistance >= 0.0 and u_constant >= 0.0):
        raise AnalysisError(analysis, "uncertainties must be non-negative")
    value = constant / resistance
    relative = math.hypot(u_resistance / resistance, u_constant / constant)
    require_finite(analysis, conductivity=value)
    return Conductivity(value, value * relative, resistance, constant)


def blocking_cell_impedance(
    frequency: ArrayLike,
    bulk_resistance: float,
    cpe_coefficient: float,
    cpe_exponent: float,
    inductance: float = 0.0,
) -> ComplexArray:
    """Impedance of the blocking-electrode conductivity cell (module docstring formula).

    Args:
        frequency: Hz, any shape.
        bulk_resistance: R_b in ohm.
        cpe_coefficient: Q in F s^(α−1).
        cpe_exponent: α, dimensionless.
        inductance: L in H.

    Returns:
        Z in ohm, the shape of ``frequency``.
    """
    omega = 2.0 * np.pi * np.asarray(frequency, dtype=np.float64)
    z = (
        bulk_resistance
        + 1j * omega * inductance
        + 1.0 / (cpe_coefficient * (1j * omega) ** cpe_exponent)
    )
    return np.asarray(z, dtype=np.complex128)


@dataclass(frozen=True)
class BlockingCellFit:
    """Result of :func:`fit_blocking_cell`."""

    bulk_resistance: FittedParameter
    """R_b, ohm."""
    cpe_coefficient: FittedParameter
    """Q, F s^(α−1)."""
    cpe_exponent: FittedParameter
    """α, dimensionless."""
    inductance: FittedParameter
    """L, H."""
    reduced_chi_square: float
    """Σr²/ν with residuals weighted by ``relative_noise·|Z|`` (by |Z| when not given)."""
    degrees_of_freedom: int
    """ν = 2N − p."""

    def impedance(self, frequency: ArrayLike) -> ComplexArray:
        """The fitted model at ``frequency`` (Hz), in ohm."""
        return blocking_cell_impedance(
            frequency,
            self.bulk_resistance.value,
            self.cpe_coefficient.value,
            self.cpe_exponent.value,
            self.inductance.value,
        )

    def conductivity(
        self, cell_constant_per_m: float, *, cell_constant_uncertainty: float = 0.0
    ) -> Conductivity:
        """κ = K_cell/R_b with the fit's uncertainty of R_b propagated (S/m)."""
        return conductivity_from_resistance(
            self.bulk_resistance,
            cell_constant_per_m,
            cell_constant_uncertainty=cell_constant_uncertainty,
        )


def _guess(data: Spectrum) -> tuple[float, float, float]:
    omega = data.angular_frequency
    real = data.impedance.real
    minus_imag = -data.impedance.imag
    positive = real[real > 0.0]
    if positive.size == 0:
        raise AnalysisError(_ANALYSIS, "Z′ is never positive: not a conductivity-cell spectrum")
    bulk = float(real[0]) if real[0] > 0.0 else float(positive.min())
    # Low-frequency capacitive line: −Z″ = sin(απ/2) ω^(−α)/Q, so its log-log slope is −α.
    low = slice(-max(3, data.frequency.size // 4), None)
    if not np.all(minus_imag[low] > 0.0):
        raise AnalysisError(
            _ANALYSIS,
            "−Z″ is not positive at the lowest frequencies: no blocking (capacitive) behaviour",
        )
    line = line_fit(np.log(omega[low]), np.log(minus_imag[low]))
    exponent = 0.9 if line is None else float(np.clip(-line[0], 0.3, 1.0))
    coefficient = math.sin(exponent * math.pi / 2.0) / (
        float(minus_imag[-1]) * float(omega[-1]) ** exponent
    )
    return bulk, coefficient, exponent


def _model(
    omega: FloatArray, scale: float, fit_inductance: bool, lead: float
) -> ModelWithJacobian:
    log_j_omega = np.log(omega) + 0.5j * np.pi

    def evaluate(x: FloatArray) -> tuple[ComplexArray, ComplexArray]:
        bulk, coefficient = np.exp(x[:2])
        exponent = x[2]
        inductance = x[3] * scale if fit_inductance else lead
        cpe = np.exp(-exponent * log_j_omega) / coefficient
        z = bulk + 1j * omega * inductance + cpe
        columns = [np.full_like(z, bulk), -cpe, -log_j_omega * cpe]
        if fit_inductance:
            columns.append(1j * omega * scale)
        return z, np.stack(columns, axis=1)

    return evaluate


def fit_blocking_cell(
    frequency: ArrayLike,
    z_real: ArrayLike,
    z_imag: ArrayLike,
    *,
    fit_inductance: bool = True,
    inductance: float = 0.0,
    relative_noise: float | None = None,
) -> BlockingCellFit:
    """Fit R_b + jωL + 1/(Q(jω)^α) to a conductivity-cell spectrum.

    The stray inductance is fitted by default (10–100 nH moves Z″ visibly above ~100 kHz).

    Args:
        frequency: Hz, shape (n,), any order; n ≥ 5.
        z_real: Z′ in ohm, shape (n,).
        z_imag: Z″ in ohm, shape (n,).
        fit_inductance: fit L (else hold it at ``inductance``).
        inductance: L in H, fixed value or start.
        relative_noise: the noise as a fraction of |Z| when known (scales the chi-square only).

    Raises:
        AnalysisError: unusable arrays, no capacitive low-frequency line, no convergence, or a
            CPE exponent outside (0, 1.05].
    """
    data = spectrum(_ANALYSIS, frequency, z_real, z_imag, min_points=5)
    lead = finite_scalar(_ANALYSIS, "inductance", inductance)
    if relative_noise is not None:
        relative_noise = finite_scalar(_ANALYSIS, "relative_noise", relative_noise, positive=True)
    omega = data.angular_frequency
    with np.errstate(all="ignore"):
        bulk, coefficient, exponent = _guess(data)
        base = np.array([math.log(bulk), math.log(coefficient), exponent])
        if not np.all(np.isfinite(base)):
            raise AnalysisError(_ANALYSIS, "the spectrum gives no usable starting point")
        scale = bulk / float(omega[0])
        starts = [base, base + np.array([0.0, 0.0, -0.1])]
        if fit_inductance:
            starts = [np.append(start, lead / scale) for start in starts]
        model = _model(omega, scale, fit_inductance, lead)
        solution = fit_complex(
            _ANALYSIS, model, data.impedance, starts, relative_noise=relative_noise
        )
        variances = np.sqrt(np.clip(np.diag(solution.covariance), 0.0, None))
        bulk_fit, coefficient_fit = (float(v) for v in np.exp(solution.x[:2]))
        exponent_fit = float(solution.x[2])
    if not 0.0 < exponent_fit <= _HIGHEST_EXPONENT:
        raise AnalysisError(
            _ANALYSIS,
            f"the CPE exponent came out as {exponent_fit:.3g}, outside (0, {_HIGHEST_EXPONENT}]: "
            "the spectrum is not that of a blocking-electrode cell",
        )
    if fit_inductance:
        lead_parameter = FittedParameter(
            float(solution.x[3]) * scale, scale * float(variances[3]), "H"
        )
    else:
        lead_parameter = FittedParameter(lead, 0.0, "H", fixed=True)
    reduced = solution.sum_of_squares / solution.degrees_of_freedom
    require_finite(_ANALYSIS, bulk_resistance=bulk_fit, cpe_coefficient=coefficient_fit)
    return BlockingCellFit(
        bulk_resistance=FittedParameter(bulk_fit, bulk_fit * float(variances[0]), "ohm"),
        cpe_coefficient=FittedParameter(
            coefficient_fit, coefficient_fit * float(variances[1]), "F s^(alpha-1)"
        ),
        cpe_exponent=FittedParameter(exponent_fit, float(variances[2]), "1"),
        inductance=lead_parameter,
        reduced_chi_square=reduced,
        degrees_of_freedom=solution.degrees_of_freedom,
    )
