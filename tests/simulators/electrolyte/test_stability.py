"""The SURROGATE oxidative stability limit: only its monotonic behaviours are meaningful."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from labctl.errors import LabctlError, UnitError
from labctl.simulators.electrolyte.composition import Composition
from labctl.simulators.electrolyte.stability import DEFAULT_STABILITY, StabilityModel

BLEND = {"EC": 0.3, "EMC": 0.7}


def test_lsv_curve_is_vectorized_and_rises_with_potential() -> None:
    composition = Composition(1.0, BLEND)
    potentials = np.linspace(3.0, 6.5, 200)
    current = DEFAULT_STABILITY.current_density(composition, potentials, 298.15)
    assert current.shape == potentials.shape
    assert np.all(np.diff(current) > 0)
    # At low potential only the capacitive current C_dl·v flows (0.2 F/m² × 1 mV/s).
    assert current[0] == pytest.approx(0.2 * 1e-3, rel=1e-3)


def test_limit_is_where_the_current_reaches_the_cutoff() -> None:
    composition = Composition(1.0, BLEND)
    limit = DEFAULT_STABILITY.stability_limit(composition, 298.15, current_cutoff=1.0)
    at_limit = float(DEFAULT_STABILITY.current_density(composition, limit, 298.15))
    assert at_limit == pytest.approx(1.0, rel=1e-9)
    assert 4.0 < limit < 6.5


def test_limit_rises_with_salt_concentration() -> None:
    limits = [
        DEFAULT_STABILITY.stability_limit(Composition(m, BLEND), 298.15)
        for m in (0.0, 0.5, 1.0, 1.5, 2.0, 2.5)
    ]
    assert all(b > a for a, b in itertools.pairwise(limits))


def test_limit_falls_with_a_lower_cutoff() -> None:
    composition = Composition(1.0, BLEND)
    limits = [
        DEFAULT_STABILITY.stability_limit(composition, 298.15, current_cutoff=j)
        for j in (10.0, 1.0, 0.1, 0.01)
    ]
    assert all(b < a for a, b in itertools.pairwise(limits))


def test_limit_falls_when_a_low_potential_component_is_added() -> None:
    base = DEFAULT_STABILITY.stability_limit(Composition(1.0, {"EC": 0.5, "DMC": 0.5}), 298.15)
    with_dec = DEFAULT_STABILITY.stability_limit(
        Composition(1.0, {"EC": 0.45, "DMC": 0.45, "DEC": 0.1}), 298.15
    )
    assert with_dec < base
    easy = StabilityModel(
        oxidation_potentials={**DEFAULT_STABILITY.oxidation_potentials, "DEC": 4.3}
    )
    with_easy = easy.stability_limit(
        Composition(1.0, {"EC": 0.45, "DMC": 0.45, "DEC": 0.1}), 298.15
    )
    assert with_easy < with_dec


def test_impossible_requests_raise_clear_errors() -> None:
    composition = Composition(1.0, BLEND)
    with pytest.raises(LabctlError, match="capacitive"):
        DEFAULT_STABILITY.stability_limit(composition, 298.15, current_cutoff=1e-4)
    partial = StabilityModel(oxidation_potentials={"EC": 5.5})
    with pytest.raises(UnitError, match="oxidation potential"):
        partial.stability_limit(composition, 298.15)
