"""Fit of the Randles equivalent circuit to an impedance spectrum.

Model (REFERENCES §3; Randles, Discuss. Faraday Soc. 1, 11 (1947); Bard & Faulkner,
*Electrochemical Methods* 2nd ed. §10.3; Orazem & Tribollet, *EIS* 2nd ed. ch. 9)::

    Z(ω) = R_s + jωL + 1 / ( jωC_dl + 1/(R_ct + σω^(−½)(1 − j)) )

R_s solution resistance, R_ct charge-transfer resistance, C_dl double-layer capacitance, σ the
semi-infinite Warburg coefficient, L a series (lead) inductance, held at 0 unless fitted. This is
exactly the model of the twins' electrochemistry (``labctl.simulators.electrochem``).

The fit minimises modulus-weighted residuals (``labctl.analysis._fit``) over ln R_s, ln R_ct,
ln C_dl, ln σ (and L/L₀ when the inductance is fitted: it may be zero) from an automatic start:
the high-frequency intercept for R_s, the arc apex (−Z″ = R_ct/2 at ω = 1/(R_ct C_dl)) for R_ct
and C_dl (an arc hidden in the diffusion tail is found where the Nyquist curve is flattest), the
slope of −Z″ against ω^(−½) on the low-frequency 45° line for σ.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike
from scipy.signal import find_peaks

from labctl.analysis._arrays import FloatArray, finite_scalar, line_fit, require_finite
from labctl.analysis._fit import ComplexArray, ModelWithJacobian, Solution, fit_complex
from labctl.analysis._spectrum import Spectrum, spectrum
from labctl.analysis.errors import AnalysisError
from labctl.analysis.parameters import FittedParameter

__all__ = [
    "RandlesFit",
    "RandlesGuess",
    "fit_randles",
    "randles_impedance",
    "randles_initial_guess",
]

_ANALYSIS = "Randles fit"
_HIDDEN_ARC_SLOPE = 0.8
"""Nyquist slope below which a flattening counts as an arc (the Warburg line has slope 1)."""


def randles_impedance(
    frequency: ArrayLike,
    solution_resistance: float,
    charge_transfer_resistance: float,
    double_layer_capacitance: float,
    warburg_coefficient: float,
    inductance: float = 0.0,
) -> ComplexArray:
    """Impedance of the Randles circuit (module docstring formula).

    Args:
        frequency: frequencies in Hz, any shape.
        solution_resistance: R_s in ohm.
        charge_transfer_resistance: R_ct in ohm.
        double_layer_capacitance: C_dl in F.
        warburg_coefficient: σ in ohm s^-½.
        inductance: L in H.

    Returns:
        Z in ohm, complex, the shape of ``frequency``.
    """
    omega = 2.0 * np.pi * np.asarray(frequency, dtype=np.float64)
    faradaic = charge_transfer_resistance + warburg_coefficient * omega**-0.5 * (1.0 - 1.0j)
    admittance = 1j * omega * double_layer_capacitance + 1.0 / faradaic
    z = solution_resistance + 1j * omega * inductance + 1.0 / admittance
    return np.asarray(z, dtype=np.complex128)


@dataclass(frozen=True)
class RandlesGuess:
    """Starting values read off the spectrum's shape."""

    solution_resistance: float
    """R_s in ohm: the high-frequency intercept of Z′."""
    charge_transfer_resistance: float
    """R_ct in ohm: geometric mean of twice the arc height −Z″ and twice Z′ − R_s at the apex."""
    double_layer_capacitance: float
    """C_dl in F: 1/(ω_apex R_ct)."""
    warburg_coefficient: float
    """σ in ohm s^-½: slope of −Z″ against ω^(−½) below the arc (a small value if no tail)."""
    apex_frequency: float
    """Frequency of the arc apex in Hz."""


@dataclass(frozen=True)
class RandlesFit:
    """Result of :func:`fit_randles`."""

    solution_resistance: FittedParameter
    """R_s, ohm."""
    charge_transfer_resistance: FittedParameter
    """R_ct, ohm."""
    double_layer_capacitance: FittedParameter
    """C_dl, F."""
    warburg_coefficient: FittedParameter
    """σ, ohm s^-½."""
    inductance: FittedParameter
    """L, H (fixed at the given value unless ``fit_inductance``)."""
    reduced_chi_square: float
    """Σr²/ν, dimensionless, with r the residuals weighted by ``relative_noise·|Z|`` (by |Z| when
    no noise level was given: it is then the variance of the relative residuals)."""
    degrees_of_freedom: int
    """ν = 2N − p (real and imaginary parts of N points, p fitted parameters)."""

    def impedance(self, frequency: ArrayLike) -> ComplexArray:
        """The fitted model at ``frequency`` (Hz), in ohm."""
        return randles_impedance(
            frequency,
            self.solution_resistance.value,
            self.charge_transfer_resistance.value,
            self.double_layer_capacitance.value,
            self.warburg_coefficient.value,
            self.inductance.value,
        )


def _apex_index(data: Spectrum) -> int:
    """Index of the arc apex.

    The most prominent local maximum of −Z″, else of the phase angle, else the point where the
    Nyquist curve is flattest when that is well below the 45° diffusion line.
    """
    minus_imag = -data.impedance.imag
    if not np.any(minus_imag > 0.0):
        raise AnalysisError(_ANALYSIS, "−Z″ is never positive: the spectrum has no capacitive arc")
    for signal in (minus_imag, -np.angle(data.impedance)):
        span = float(np.ptp(signal))
        if span <= 0.0:
            continue
        peaks, properties = find_peaks(signal, prominence=0.01 * span)
        candidates = [
            (float(prominence), int(peak))
            for peak, prominence in zip(peaks, properties["prominences"], strict=True)
            if minus_imag[peak] > 0.0
        ]
        if candidates:
            return max(candidates)[1]
    # An arc hidden in the diffusion tail still flattens the Nyquist curve: its slope
    # d(−Z″)/dZ′ falls below the Warburg line's 1 near the apex.
    step = np.diff(data.impedance)
    forward = step.real > 0.0
    if forward.any():
        slope = np.where(forward, -step.imag / np.where(forward, step.real, 1.0), np.inf)
        flattest = int(np.argmin(slope))
        if slope[flattest] < _HIDDEN_ARC_SLOPE and minus_imag[flattest + 1] > 0.0:
            return flattest + 1
    raise AnalysisError(
        _ANALYSIS,
        "no arc found: neither −Z″ nor the phase angle has a local maximum, and the Nyquist "
        f"curve never flattens below the 45° line, between {data.frequency[0]:.4g} Hz and "
        f"{data.frequency[-1]:.4g} Hz",
    )


def _guess(data: Spectrum) -> RandlesGuess:
    omega = data.angular_frequency
    real = data.impedance.real
    minus_imag = -data.impedance.imag
    apex = _apex_index(data)
    positive_real = real[real > 0.0]
    if positive_real.size == 0:
        raise AnalysisError(_ANALYSIS, "Z′ is never positive: not a Randles spectrum")
    # The high-frequency intercept: Z′ at the highest frequency, unless noise made it negative.
    solution_resistance = float(real[0]) if real[0] > 0.0 else float(positive_real.min())
    height = float(minus_imag[apex])
    width = 2.0 * (float(real[apex]) - solution_resistance)
    charge_transfer = 2.0 * height if width <= 0.0 else float(np.sqrt(2.0 * height * width))
    capacitance = 1.0 / (float(omega[apex]) * charge_transfer)
    # The 45° line: −Z″ = σω^(−½) + const below the valley that follows the apex.
    valley = apex + int(np.argmin(minus_imag[apex:]))
    tail = slice(valley, None)
    line = line_fit(omega[tail] ** -0.5, minus_imag[tail])
    warburg = 0.0 if line is None else line[0]
    floor = 0.01 * charge_transfer * float(np.sqrt(omega[-1]))
    warburg = max(warburg, floor)
    guess = RandlesGuess(
        solution_resistance,
        charge_transfer,
        capacitance,
        warburg,
        float(data.frequency[apex]),
    )
    require_finite(
        _ANALYSIS,
        solution_resistance=guess.solution_resistance,
        charge_transfer_resistance=guess.charge_transfer_resistance,
        double_layer_capacitance=guess.double_layer_capacitance,
        warburg_coefficient=guess.warburg_coefficient,
    )
    if min(charge_transfer, capacitance, warburg, solution_resistance) <= 0.0:
        raise AnalysisError(_ANALYSIS, f"the spectrum gives no usable starting point ({guess})")
    return guess


def randles_initial_guess(
    frequency: ArrayLike, z_real: ArrayLike, z_imag: ArrayLike
) -> RandlesGuess:
    """Read starting values for the Randles fit off the spectrum's shape.

    Args:
        frequency: Hz, shape (n,), any order.
        z_real: Z′ in ohm, shape (n,).
        z_imag: Z″ in ohm, shape (n,), negative on a capacitive arc.

    Raises:
        AnalysisError: unusable arrays or no arc.
    """
    with np.errstate(all="ignore"):
        return _guess(spectrum(_ANALYSIS, frequency, z_real, z_imag, min_points=5))


def _model(
    omega: FloatArray, inductance_scale: float, fit_inductance: bool, inductance: float
) -> ModelWithJacobian:
    def evaluate(x: FloatArray) -> tuple[ComplexArray, ComplexArray]:
        rs, rct, cdl, sigma = np.exp(x[:4])
        lead = x[4] * inductance_scale if fit_inductance else inductance
        warburg = sigma * omega**-0.5 * (1.0 - 1.0j)
        faradaic = rct + warburg
        admittance = 1j * omega * cdl + 1.0 / faradaic
        z = rs + 1j * omega * lead + 1.0 / admittance
        through = 1.0 / (admittance**2 * faradaic**2)
        columns = [
            np.full_like(z, rs),
            rct * through,
            -1j * omega * cdl / admittance**2,
            warburg * through,
        ]
        if fit_inductance:
            columns.append(1j * omega * inductance_scale)
        return z, np.stack(columns, axis=1)

    return evaluate


def _parameter(solution: Solution, index: int, unit: str) -> FittedParameter:
    value = float(np.exp(solution.x[index]))
    variance = float(solution.covariance[index, index])
    return FittedParameter(value, value * float(np.sqrt(max(variance, 0.0))), unit)


def fit_randles(
    frequency: ArrayLike,
    z_real: ArrayLike,
    z_imag: ArrayLike,
    *,
    fit_inductance: bool = False,
    inductance: float = 0.0,
    relative_noise: float | None = None,
    initial_guess: RandlesGuess | None = None,
) -> RandlesFit:
    """Fit the Randles circuit to a spectrum (model and method in the module docstring).

    Args:
        frequency: Hz, shape (n,), any order; n ≥ 5.
        z_real: Z′ in ohm, shape (n,).
        z_imag: Z″ in ohm, shape (n,), negative on the capacitive arc.
        fit_inductance: fit the series inductance L too (else it is held at ``inductance``).
        inductance: L in H, the fixed value, or the start when fitted.
        relative_noise: the noise level as a fraction of |Z| when known; it only scales the
            reported reduced chi-square (the uncertainties use the observed scatter either way).
        initial_guess: starting values; read off the spectrum when omitted.

    Returns:
        The parameters with standard uncertainties, the reduced chi-square and degrees of freedom.

    Raises:
        AnalysisError: too few points, non-finite values, no arc, or no convergence.
    """
    data = spectrum(_ANALYSIS, frequency, z_real, z_imag, min_points=5)
    lead = finite_scalar(_ANALYSIS, "inductance", inductance)
    if relative_noise is not None:
        relative_noise = finite_scalar(_ANALYSIS, "relative_noise", relative_noise, positive=True)
    omega = data.angular_frequency
    with np.errstate(all="ignore"):
        guess = initial_guess if initial_guess is not None else _guess(data)
        base = np.log(
            [
                guess.solution_resistance,
                guess.charge_transfer_resistance,
                guess.double_layer_capacitance,
                guess.warburg_coefficient,
            ]
        )
        if not np.all(np.isfinite(base)):
            raise AnalysisError(_ANALYSIS, f"the starting values are not all positive ({guess})")
        inductance_scale = guess.solution_resistance / float(omega[0])
        steps = (
            [0, 0, 0, 0],
            [0, 0, 0, -2.3],
            [0, 0, 0, 2.3],
            [0, -0.7, 0.7, 0],
            [0, 0.7, -0.7, 0],
        )
        starts = [base + np.asarray(step, dtype=np.float64) for step in steps]
        if fit_inductance:
            starts = [np.append(start, lead / inductance_scale) for start in starts]
        model = _model(omega, inductance_scale, fit_inductance, lead)
        solution = fit_complex(
            _ANALYSIS, model, data.impedance, starts, relative_noise=relative_noise
        )
    units = ("ohm", "ohm", "F", "ohm s^-1/2")
    parameters = [_parameter(solution, index, unit) for index, unit in enumerate(units)]
    if fit_inductance:
        fitted_lead = float(solution.x[4]) * inductance_scale
        spread = inductance_scale * float(np.sqrt(max(float(solution.covariance[4, 4]), 0.0)))
        lead_parameter = FittedParameter(fitted_lead, spread, "H")
    else:
        lead_parameter = FittedParameter(lead, 0.0, "H", fixed=True)
    reduced = solution.sum_of_squares / solution.degrees_of_freedom
    require_finite(
        _ANALYSIS,
        reduced_chi_square=reduced,
        **{f"parameter {index}": p.value for index, p in enumerate(parameters)},
    )
    return RandlesFit(
        solution_resistance=parameters[0],
        charge_transfer_resistance=parameters[1],
        double_layer_capacitance=parameters[2],
        warburg_coefficient=parameters[3],
        inductance=lead_parameter,
        reduced_chi_square=reduced,
        degrees_of_freedom=solution.degrees_of_freedom,
    )
