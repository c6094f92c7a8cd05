from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from labctl.errors import UnitError
from labctl.units import parse_quantity, record_unit, require_dimension, to_magnitude, ureg


@pytest.mark.parametrize(
    ("text", "dimension", "unit", "magnitude"),
    [
        ("2 mA/cm**2", "[current] / [length] ** 2", "A/m**2", 20.0),
        ("25 degC", "[temperature]", "K", 298.15),
        ("10 uL/s", "[length] ** 3 / [time]", "mL/min", 0.6),
        ("5 ppm", None, "dimensionless", 5e-6),
        ("0.5 mol/kg", "mol/kg", "mol/kg", 0.5),
        ("1 molal", "[substance] / [mass]", "mol/kg", 1.0),
        ("500 ms", "s", "s", 0.5),
    ],
)
def test_parses_lab_quantities(
    text: str, dimension: str | None, unit: str, magnitude: float
) -> None:
    quantity = parse_quantity(text, dimension)
    assert to_magnitude(quantity, unit) == pytest.approx(magnitude)


@pytest.mark.parametrize(
    ("value", "dimension", "fragment"),
    [
        ("25 kg", "[temperature]", "expected a temperature"),
        ("3", "[time]", "bare number has no units"),
        (3.0, "[time]", "bare number has no units"),
        ("", "[time]", "empty"),
        ("five seconds", "[time]", "not a quantity"),
        ("nan s", "[time]", "not finite"),
        (True, "[time]", "true/false"),
        (["1 s"], "[time]", "list is not a quantity"),
    ],
)
def test_refuses_with_the_expected_dimension_named(
    value: object, dimension: str, fragment: str
) -> None:
    with pytest.raises(UnitError, match=fragment):
        parse_quantity(value, dimension)


def test_require_dimension_names_both_dimensions() -> None:
    with pytest.raises(UnitError) as caught:
        require_dimension(parse_quantity("3 V"), "[current]")
    assert "a current" in str(caught.value)
    assert "a potential" in str(caught.value)


@pytest.mark.parametrize(
    ("unit", "recorded"),
    [("degC", "K"), ("hPa", "Pa"), ("ppm", "ppm"), ("mA/cm**2", "A/m**2"), ("mS/cm", "S/m")],
)
def test_record_units_are_si_except_ratios(unit: str, recorded: str) -> None:
    assert record_unit(unit) == recorded


@given(st.text(max_size=40))
def test_parser_only_raises_unit_error(text: str) -> None:
    try:
        quantity = parse_quantity(text, "[time]")
    except UnitError as error:
        assert "expected a time" in str(error)
    else:
        assert quantity.check("[time]")


def test_the_quantity_codec_round_trips_what_documents_keep() -> None:
    import json

    import numpy as np

    from labctl.units import decode_quantity, encode_quantity

    for text in ("1.2 mol/kg", "25 degC", "-80 uA", "3 mA/cm**2", "0.5"):
        quantity = ureg.Quantity(text) if " " in text else ureg.Quantity(float(text), "")
        encoded = json.loads(json.dumps(encode_quantity(quantity)))
        assert set(encoded) == {"value", "units"}
        decoded = decode_quantity(encoded)
        assert decoded.units == quantity.units
        assert decoded.magnitude == pytest.approx(quantity.magnitude)
    assert encode_quantity(ureg.Quantity(2.0, ""))["units"] == "1"
    assert encode_quantity(np.float64(1.5)) == 1.5
    assert type(encode_quantity(np.int64(3))) is int
    assert encode_quantity("LiPF6") == "LiPF6"
    assert decode_quantity({"value": 1, "units": "V", "extra": 0}) == {
        "value": 1,
        "units": "V",
        "extra": 0,
    }


@pytest.mark.parametrize("text", ["nan V", "inf mA", "-inf degC", "NaN mol/kg"])
def test_a_quantity_that_is_not_a_finite_number_is_refused(text: str) -> None:
    with pytest.raises(UnitError, match=r"not a finite number|not finite"):
        parse_quantity(text)
