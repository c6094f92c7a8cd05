"""CV peaks against a reversible voltammogram and the Randles–Sevcik relation.

Reference curve ("analytic" up to quadrature): for a reversible couple R ⇌ O + e⁻ with equal
diffusivities and only R in the bulk, Nernst fixes the surface fraction θ(t) = c_O(0,t)/C =
1/(1 + exp(−f(E(t) − E°))), and semi-infinite diffusion gives the current as the semi-derivative
i(t) = nFAC√D · d^½θ/dt^½ = nFAC√(D/π) [θ(0)/√t + ∫₀ᵗ θ′(τ)/√(t − τ) dτ] (Oldham & Spanier; Bard &
Faulkner §6.7). The integral is evaluated exactly for piecewise-linear θ. Acceptance (issue 3): at
25 °C, ΔE_p in 57–62 mV and i_p within 3 % of i_p = 0.4463 nFAC√(nFvD/(RT)) (Bard & Faulkner
eq. 6.2.19); E_p − E° = +1.109 RT/F = 28.5 mV (REFERENCES §3).
"""

from __future__ import annotations

import numpy as np
import pytest

from labctl.analysis import AnalysisError, cv_peaks, sweep_segments

FARADAY, GAS, TEMPERATURE = 96485.33212, 8.314462618, 298.15
F = FARADAY / (GAS * TEMPERATURE)
E0, D, C, AREA = 0.2, 1e-9, 1.0, 1e-5  # V, m²/s, mol/m³ (1 mM), m²


def reversible_cv(v=0.1, span=0.3, step=0.5e-3, cycles=1, capacitance=0.0):
    """(E, i) every ``step`` V from E° − span to E° + span and back, ``cycles`` times."""
    up = np.arange(E0 - span, E0 + span, step)
    down = np.arange(E0 + span, E0 - span, -step)
    potential = np.concatenate([*([up, down] * cycles), [E0 - span]])
    dt = step / v
    t = dt * np.arange(1, potential.size + 1)
    t = np.concatenate([[0.0], t])
    theta = 1.0 / (1.0 + np.exp(-F * (np.concatenate([[potential[0]], potential]) - E0)))
    slope = np.diff(theta) / dt
    current = np.empty(potential.size)
    for k in range(1, t.size):
        pieces = slope[:k] * 2.0 * (np.sqrt(t[k] - t[:k]) - np.sqrt(t[k] - t[1 : k + 1]))
        current[k - 1] = theta[0] / np.sqrt(t[k]) + pieces.sum()
    current *= FARADAY * AREA * C * np.sqrt(D / np.pi)
    direction = np.sign(np.gradient(potential))
    current += capacitance * AREA * v * direction
    return potential, current


def randles_sevcik(v):
    return 0.4463 * FARADAY * AREA * C * np.sqrt(F * v * D)


@pytest.fixture(scope="module")
def reversible():
    return reversible_cv()


def test_reversible_peak_separation_and_randles_sevcik(reversible):
    (cycle,) = cv_peaks(*reversible)
    assert cycle.first_sweep == "anodic"
    assert 0.057 <= cycle.peak_separation <= 0.062
    # Switching 300 mV past E½: ΔE_p ≈ 57.8 mV (Bard & Faulkner Table 6.5.2).
    assert cycle.peak_separation == pytest.approx(0.0578, abs=0.0005)
    assert cycle.anodic_peak_current == pytest.approx(randles_sevcik(0.1), rel=0.005)
    assert cycle.anodic_peak_potential - E0 == pytest.approx(1.109 / F, abs=3e-4)
    assert cycle.half_wave_potential == pytest.approx(E0, abs=1e-3)
    # Nicholson's correction for the reverse baseline: i_pa/|i_pc| = 1 when reversible.
    assert cycle.peak_current_ratio == pytest.approx(1.0, abs=0.02)
    assert cycle.switching_potential == pytest.approx(E0 + 0.3, abs=1e-3)


def test_charging_current_is_removed():
    # 20 µF/cm² = 0.2 F/m²: charging C·v ≈ 8 % of the peak at 0.1 V/s.
    potential, current = reversible_cv(capacitance=0.2)
    (cycle,) = cv_peaks(potential, current)
    assert cycle.anodic_peak_current == pytest.approx(randles_sevcik(0.1), rel=0.01)
    assert 0.057 <= cycle.peak_separation <= 0.062
    assert cycle.peak_current_ratio == pytest.approx(1.0, abs=0.03)


def test_peak_current_scales_with_root_scan_rate():
    slow = cv_peaks(*reversible_cv(v=0.02))[0].anodic_peak_current
    fast = cv_peaks(*reversible_cv(v=0.5))[0].anodic_peak_current
    assert fast / slow == pytest.approx(np.sqrt(25.0), rel=0.005)


def test_reduction_first_is_the_mirror_image(reversible):
    potential, current = reversible
    mirrored = cv_peaks(2 * E0 - potential, -current)[0]
    forward = cv_peaks(potential, current)[0]
    assert mirrored.first_sweep == "cathodic"
    assert mirrored.peak_separation == pytest.approx(forward.peak_separation, abs=1e-9)
    assert mirrored.cathodic_peak_current == pytest.approx(-forward.anodic_peak_current)
    assert mirrored.half_wave_potential == pytest.approx(2 * E0 - forward.half_wave_potential)


def test_every_cycle_is_reported():
    potential, current = reversible_cv(cycles=3, step=1e-3)
    cycles = cv_peaks(potential, current)
    assert [c.cycle for c in cycles] == [1, 2, 3]
    for cycle in cycles:
        assert 0.055 <= cycle.peak_separation <= 0.062
        assert cycle.half_wave_potential == pytest.approx(E0, abs=2e-3)


def test_coarse_steps_are_refined_by_the_parabola():
    potential, current = reversible_cv(step=5e-3)
    (cycle,) = cv_peaks(potential, current)
    assert cycle.anodic_peak_potential - E0 == pytest.approx(1.109 / F, abs=1.5e-3)
    assert cycle.anodic_peak_current == pytest.approx(randles_sevcik(0.1), rel=0.01)


def test_gaussian_peaks_on_a_sloped_baseline():
    # An analytically built curve: Gaussian waves on a charging line ±(a + bE).
    up = np.linspace(-0.2, 0.6, 801)
    down = up[::-1][1:]
    potential = np.concatenate([up, down])
    charging = 2e-7 + 1e-7 * potential
    forward = 3e-6 * np.exp(-(((up - 0.25) / 0.04) ** 2)) + charging[: up.size]
    reverse = -2e-6 * np.exp(-(((down - 0.15) / 0.04) ** 2)) - charging[up.size :]
    (cycle,) = cv_peaks(potential, np.concatenate([forward, reverse]))
    assert cycle.anodic_peak_potential == pytest.approx(0.25, abs=1e-4)
    assert cycle.cathodic_peak_potential == pytest.approx(0.15, abs=1e-4)
    assert cycle.anodic_peak_current == pytest.approx(3e-6, rel=1e-3)
    # No decaying tail here, so Nicholson's 0.086·i_pa term is the only addition.
    assert cycle.cathodic_peak_current == pytest.approx(-(2e-6 + 0.086 * 3e-6), rel=1e-3)


def test_noisy_measured_potential_makes_no_false_vertices(reversible):
    potential, current = reversible
    noisy = potential + np.random.default_rng(0).normal(0.0, 1e-3, potential.size)
    assert len(sweep_segments(noisy)) == 2
    (cycle,) = cv_peaks(noisy, current, smoothing_window=5)
    assert 0.050 <= cycle.peak_separation <= 0.066


def test_a_single_sweep_is_not_a_cv():
    potential = np.linspace(0.0, 1.0, 100)
    with pytest.raises(AnalysisError, match="no reversal"):
        cv_peaks(potential, np.exp(potential))


def test_a_current_still_rising_at_the_vertex_has_no_peak():
    up = np.linspace(0.0, 1.0, 200)
    potential = np.concatenate([up, up[::-1][1:]])
    current = np.concatenate([np.exp(5 * up), -np.exp(5 * up[::-1][1:])])
    with pytest.raises(AnalysisError, match="no anodic peak"):
        cv_peaks(potential, current)
