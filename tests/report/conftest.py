"""A toy two-objective campaign over a 3-member mixture and a salt molality, built in memory."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from labctl.config import CampaignSection
from labctl.plans.records import ExperimentRecord
from labctl.units import ureg

SECTION: dict[str, Any] = {
    "name": "toy-electrolyte",
    "experiment": "toy-gaussian",
    "space": {
        "solvent": {"mixture": {"EC": {}, "DMC": {}, "EMC": {}}},
        "salt_molality": {"low": "0.5 mol/kg", "high": "2.0 mol/kg"},
    },
    "objectives": {
        "ionic_conductivity": {"direction": "maximize", "units": "mS/cm"},
        "cost": {"direction": "minimize", "units": "USD/kg"},
    },
    "optimizer": {"kind": "sobol", "seed": 1},
    "budget": {"experiments": 30},
}


def toy_outcome(ec: float, dmc: float, molality: float) -> dict[str, float]:
    """Conductivity peaks near 1.2 mol/kg and rises with EC; cost rises with salt and DMC."""
    return {
        "ionic_conductivity": 10.0 - 4.0 * (molality - 1.2) ** 2 + 3.0 * ec,
        "cost": 20.0 + 15.0 * molality + 5.0 * dmc,
    }


@pytest.fixture
def section() -> CampaignSection:
    return CampaignSection.model_validate(SECTION)


def make_records(n: int, *, seed: int = 0, failures: int = 0) -> list[ExperimentRecord]:
    """``n`` completed attempts (random settings) and ``failures`` failed ones."""
    rng = np.random.default_rng(seed)
    records = []
    for i in range(n + failures):
        fractions = rng.dirichlet([1.0, 1.0, 1.0])
        molality = float(rng.uniform(0.5, 2.0))
        inputs = {
            "EC": ureg.Quantity(float(fractions[0]), ""),
            "DMC": ureg.Quantity(float(fractions[1]), ""),
            "EMC": ureg.Quantity(float(fractions[2]), ""),
            "salt_molality": ureg.Quantity(molality, "mol/kg"),
        }
        if i < n:
            outcome = toy_outcome(fractions[0], fractions[1], molality)
            records.append(
                ExperimentRecord(i, 1, inputs, "completed", outcome=outcome, uid=f"uid-{i:04d}")
            )
        else:
            records.append(
                ExperimentRecord(i, 1, inputs, "failed", uid=f"uid-{i:04d}", reason="cell leaked")
            )
    return records


@pytest.fixture
def records() -> list[ExperimentRecord]:
    return make_records(12, failures=2)
