"""Material cost from a price table passed in."""

from __future__ import annotations

import pytest

from labctl.errors import LabctlError, UnitError
from labctl.simulators.electrolyte.composition import Composition
from labctl.simulators.electrolyte.cost import ILLUSTRATIVE_PRICES, PriceEntry, PriceTable


def test_cost_is_the_sum_of_mass_times_price() -> None:
    assert ILLUSTRATIVE_PRICES.cost({"LiPF6": 0.1, "EC": 0.45, "DMC": 0.45}) == pytest.approx(
        0.1 * 20.0 + 0.45 * 2.0 + 0.45 * 1.5
    )
    per_kg = ILLUSTRATIVE_PRICES.cost(Composition(1.0, {"EC": 0.5, "DMC": 0.5}).masses(1.0))
    assert per_kg > ILLUSTRATIVE_PRICES.cost({"EC": 0.5, "DMC": 0.5})


def test_illustrative_table_says_so() -> None:
    assert ILLUSTRATIVE_PRICES.currency == "USD"
    assert all("ILLUSTRATIVE" in e.source for e in ILLUSTRATIVE_PRICES.entries.values())


def test_table_from_config_records() -> None:
    table = PriceTable.from_records(
        [
            {
                "component": "LiPF6",
                "price": 300,
                "currency": "EUR",
                "source": "catalogue",
                "date": "2025-06-01",
                "tier": "lab",
            },
            {
                "component": "EC",
                "price": 50.0,
                "currency": "EUR",
                "source": "catalogue",
                "date": "2025-06-01",
                "tier": "lab",
            },
        ]
    )
    assert table.price("LiPF6") == 300.0
    assert table.entries["EC"].tier == "lab"
    with pytest.raises(LabctlError, match="no price for DMC"):
        table.cost({"DMC": 1.0})


@pytest.mark.parametrize(
    "record",
    [
        {"component": "EC", "price": 1.0, "currency": "USD", "source": "s", "date": "d"},
        {
            "component": "EC",
            "price": "cheap",
            "currency": "USD",
            "source": "s",
            "date": "d",
            "tier": "bulk",
        },
        {
            "component": "EC",
            "price": 1.0,
            "currency": "USD",
            "source": "s",
            "date": "d",
            "tier": "wholesale",
        },
    ],
)
def test_bad_records_are_refused(record: dict[str, object]) -> None:
    with pytest.raises(LabctlError):
        PriceTable.from_records([record])


def test_bad_tables_and_masses_are_refused() -> None:
    entry = PriceEntry("EC", 2.0, "USD", "s", "2025", "bulk")
    with pytest.raises(LabctlError, match="twice"):
        PriceTable([entry, entry])
    with pytest.raises(LabctlError, match="currencies"):
        PriceTable([entry, PriceEntry("DMC", 2.0, "EUR", "s", "2025", "bulk")])
    with pytest.raises(UnitError):
        PriceEntry("EC", -1.0, "USD", "s", "2025", "bulk")
    with pytest.raises(UnitError):
        ILLUSTRATIVE_PRICES.cost({"EC": -1.0})
