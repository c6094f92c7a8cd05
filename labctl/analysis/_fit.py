"""Weighted complex non-linear least squares shared by the impedance fits.

Residuals are modulus-weighted: each point contributes ``(Z_model − Z_data)/|Z_data|`` through its
real and imaginary parts, the weighting of Boukamp, Solid State Ionics 20, 31 (1986) and Orazem &
Tribollet, *Electrochemical Impedance Spectroscopy* (2nd ed., Wiley 2017) ch. 19, for noise that
is proportional to |Z|. The optimiser is :func:`scipy.optimize.least_squares` (Levenberg–Marquardt)
on a vector whose entries are log-parameters or scaled linear parameters; the caller supplies the
model and its analytic derivative with respect to that vector.

Covariance: ``C = s² (JᵀJ)⁻¹`` with ``s² = Σr²/(2N − p)`` the residual variance (the covariance
of the weighted problem scaled by the observed scatter, Press et al., *Numerical Recipes* 3rd ed.
§15.4–15.5). It is formed from the singular values of J; a direction the data do not determine
(singular value ≈ 0) gives the parameters it involves an infinite variance.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray
from scipy.optimize import least_squares

from labctl.analysis._arrays import FloatArray
from labctl.analysis.errors import AnalysisError

__all__ = ["ComplexArray", "ModelWithJacobian", "Solution", "fit_complex"]

ComplexArray = NDArray[np.complex128]
ModelWithJacobian = Callable[[FloatArray], tuple[ComplexArray, ComplexArray]]
"""x (p,) → (Z (n,), dZ/dx (n, p))."""


@dataclass(frozen=True)
class Solution:
    """Best point of a fit: vector, covariance, residual sum of squares and degrees of freedom."""

    x: FloatArray
    covariance: FloatArray
    sum_of_squares: float
    degrees_of_freedom: int


def _residuals_and_jacobian(
    model: ModelWithJacobian, z_data: ComplexArray, weight: FloatArray
) -> tuple[Callable[[FloatArray], FloatArray], Callable[[FloatArray], FloatArray]]:
    def residuals(x: FloatArray) -> FloatArray:
        z_model, _ = model(x)
        difference = (z_model - z_data) / weight
        return np.concatenate([difference.real, difference.imag])

    def jacobian(x: FloatArray) -> FloatArray:
        _, derivative = model(x)
        scaled = derivative / weight[:, None]
        return np.concatenate([scaled.real, scaled.imag], axis=0)

    return residuals, jacobian


def _covariance(jacobian: FloatArray, variance: float) -> FloatArray:
    _, singular, vt = np.linalg.svd(jacobian, full_matrices=False)
    size = vt.shape[0]
    if singular.size == 0 or singular[0] == 0.0:
        return np.full((size, size), np.inf)
    tolerance = singular[0] * np.finfo(np.float64).eps * max(jacobian.shape) * 10.0
    good = singular > tolerance
    kept = vt[good]
    covariance = (kept.T / singular[good] ** 2) @ kept * variance
    for null_vector in vt[~good]:
        involved = np.abs(null_vector) > 1e-8
        covariance[involved, :] = np.inf
        covariance[:, involved] = np.inf
    return np.asarray(covariance, dtype=np.float64)


def fit_complex(
    analysis: str,
    model: ModelWithJacobian,
    z_data: ComplexArray,
    starts: Sequence[FloatArray],
    *,
    relative_noise: float | None = None,
) -> Solution:
    """Minimise the modulus-weighted residuals from each start; keep the best converged point.

    Args:
        analysis: name used in error messages.
        model: the model and its derivative with respect to the fit vector.
        z_data: measured impedance, shape (n,).
        starts: starting vectors, shape (p,) each.
        relative_noise: when given, the weights are ``relative_noise·|Z|`` (χ² in units of the
            stated noise); otherwise ``|Z|`` (χ² is then the variance of the relative residuals).

    Raises:
        AnalysisError: too few points for the parameters, a zero-modulus point, or no start
            converged to finite residuals.
    """
    parameter_count = starts[0].size
    degrees_of_freedom = 2 * z_data.size - parameter_count
    if degrees_of_freedom <= 0:
        raise AnalysisError(
            analysis,
            f"{z_data.size} points give {2 * z_data.size} residuals for {parameter_count} "
            "parameters; more frequencies are needed",
        )
    modulus = np.abs(z_data)
    if not np.all(modulus > 0.0) or not np.all(np.isfinite(modulus)):
        raise AnalysisError(analysis, "a point has |Z| = 0 or overflows; modulus weighting fails")
    weight = modulus * (1.0 if relative_noise is None else relative_noise)
    residuals, jacobian = _residuals_and_jacobian(model, z_data, weight)
    best: tuple[float, FloatArray, FloatArray] | None = None
    with np.errstate(all="ignore"):
        for start in starts:
            try:
                first = residuals(start)
                if not np.all(np.isfinite(first)):
                    continue
                result = least_squares(
                    residuals,
                    start,
                    jac=jacobian,
                    method="lm",
                    xtol=1e-15,
                    ftol=1e-15,
                    gtol=1e-15,
                    max_nfev=2000,
                )
            except (ValueError, np.linalg.LinAlgError, FloatingPointError):
                continue
            cost = float(np.sum(result.fun**2))
            usable = np.isfinite(cost) and np.all(np.isfinite(result.x))
            if usable and (best is None or cost < best[0]):
                best = (cost, np.asarray(result.x, dtype=np.float64), result.jac)
        if best is None:
            raise AnalysisError(analysis, "the fit did not converge from any starting point")
        sum_of_squares, x, final_jacobian = best
        variance = sum_of_squares / degrees_of_freedom
        try:
            covariance = _covariance(np.asarray(final_jacobian, dtype=np.float64), variance)
        except np.linalg.LinAlgError as error:
            raise AnalysisError(
                analysis, f"the covariance could not be formed ({error})"
            ) from error
    return Solution(x, covariance, sum_of_squares, degrees_of_freedom)
