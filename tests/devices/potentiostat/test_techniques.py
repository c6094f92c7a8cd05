"""Techniques: consistency checks, safety limits, derived quantities and the SI mapping."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from labctl.config import DeviceConfig
from labctl.devices.potentiostat.techniques import (
    CA,
    CV,
    EIS,
    LSV,
    PlateStrip,
    PulseTrain,
    TechniqueLimits,
    limit_issues,
    parse_technique,
)
from labctl.errors import ConfigError, SafetyLimitError
from labctl.units import ureg

Q = ureg.Quantity


def test_quantities_in_any_unit_become_si() -> None:
    technique = parse_technique(
        {"kind": "ca", "potential": "150 mV", "duration": "2 min", "interval": "500 ms"}
    )
    assert technique.as_si() == {
        "kind": "ca",
        "potential": pytest.approx(0.15),
        "duration": pytest.approx(120.0),
        "interval": pytest.approx(0.5),
    }
    assert technique.expected_duration() == pytest.approx(120.0)


def test_pulse_train_derives_duty_cycle_average_current_and_interval() -> None:
    pulses = PulseTrain(
        on_current=Q(-10, "mA"),
        on_time=Q(5, "ms"),
        off_current=Q(2, "mA"),
        off_time=Q(15, "ms"),
        cycles=100,
    )
    assert pulses.duty_cycle == pytest.approx(0.25)
    assert pulses.average_current.to("mA").magnitude == pytest.approx(-10 * 0.25 + 2 * 0.75)
    assert pulses.as_si()["interval"] == pytest.approx(5e-3)
    assert pulses.expected_duration() == pytest.approx(2.0)


@pytest.mark.parametrize(
    ("mapping", "message"),
    [
        ({"kind": "ca", "potential": "1 A", "duration": "1 s", "interval": "0.1 s"}, "potential"),
        ({"kind": "ca", "potential": "1 V", "duration": "1 s", "interval": "2 s"}, "interval"),
        ({"kind": "cp", "current": "1 mA", "duration": "-1 s", "interval": "1 s"}, "duration"),
        (
            {
                "kind": "pulse_train",
                "on_current": "-1 mA",
                "off_current": "-1 mA",
                "on_time": "1 s",
                "off_time": "1 s",
                "cycles": 2,
            },
            "reverse",
        ),
        (
            {
                "kind": "plate_strip",
                "plate_current": "1 mA",
                "plate_charge": "1 mC",
                "strip_current": "1 mA",
                "cutoff_potential": "1 V",
                "interval": "1 s",
            },
            "cathodic",
        ),
        (
            {
                "kind": "cv",
                "start": "0 V",
                "vertex1": "1 V",
                "vertex2": "1 V",
                "scan_rate": "1 V/s",
            },
            "differ",
        ),
        ({"kind": "eis", "dc_potential": "0 V", "max_frequency": "1 kHz"}, "min_frequency"),
        ({"kind": "lsv", "start": "0 V", "end": "1 V", "scan_rate": "1 V/s", "speed": 2}, "speed"),
        ({"kind": "swv", "start": "0 V"}, "kind"),
        ({"kind": "ca", "potential": 0.1, "duration": "1 s", "interval": "1 s"}, "units"),
    ],
)
def test_inconsistent_techniques_are_refused_with_the_field_named(
    mapping: dict[str, Any], message: str
) -> None:
    with pytest.raises(ConfigError, match=message):
        parse_technique(mapping, source="plan")


def test_eis_decade_range_runs_high_to_low() -> None:
    eis = EIS(
        dc_potential=Q(0, "V"),
        max_frequency=Q(100, "kHz"),
        min_frequency=Q(0.1, "Hz"),
        points_per_decade=10,
    )
    frequencies = eis.frequency_list()
    assert len(frequencies) == 61
    assert frequencies[0] == pytest.approx(1e5)
    assert frequencies[-1] == pytest.approx(0.1)
    assert frequencies == sorted(frequencies, reverse=True)
    listed = EIS(dc_potential=Q(0, "V"), frequencies=[Q(1, "Hz"), Q(1, "kHz")])
    assert listed.as_si()["frequencies"] == [1000.0, 1.0]


LIMITS = TechniqueLimits(
    "pstat",
    potential=(-1.0, 4.8),
    current=0.02,
    current_density=100.0,  # A/m² = 10 mA/cm²
    electrode_area=1e-4,  # 1 cm²
    compliance_voltage=10.0,
    duration=3600.0,
)


@pytest.mark.parametrize(
    ("technique", "message"),
    [
        (
            CV(start=Q(0, "V"), vertex1=Q(5, "V"), vertex2=Q(0.1, "V"), scan_rate=Q(1, "V/s")),
            "vertex1 potential 5 V",
        ),
        (LSV(start=Q(-1.5, "V"), end=Q(0, "V"), scan_rate=Q(1, "V/s")), "start potential"),
        (EIS(dc_potential=Q(4.79, "V"), frequencies=[Q(1, "kHz")]), "dc \\+ peak"),
        (
            PulseTrain(on_current=Q(-15, "mA"), on_time=Q(1, "s"), off_time=Q(1, "s"), cycles=1),
            "on-current density 15 mA/cm²",
        ),
        (
            PulseTrain(on_current=Q(-5, "mA"), on_time=Q(1, "s"), off_time=Q(1, "s"), cycles=3000),
            "duration",
        ),
        (
            CA(
                potential=Q(0, "V"),
                duration=Q(1, "s"),
                interval=Q(1, "s"),
                current_limit=Q(50, "mA"),
            ),
            "current limit",
        ),
        (
            PlateStrip(
                plate_current=Q(-5, "mA"),
                plate_charge=Q(1, "C"),
                strip_current=Q(25, "mA"),
                cutoff_potential=Q(1, "V"),
                interval=Q(1, "s"),
            ),
            "stripping current",
        ),
    ],
)
def test_limits_refuse_every_part_of_a_technique(technique: Any, message: str) -> None:
    with pytest.raises(SafetyLimitError, match=message):
        technique.check_limits(LIMITS)


def test_limits_come_from_the_config_with_their_units() -> None:
    config = DeviceConfig.model_validate(
        {
            "kind": "potentiostat",
            "driver": "scpi",
            "address": "x",
            "limits": {
                "potential": {"low": "-500 mV", "high": "4.5 V"},
                "current_density": {"high": "5 mA/cm**2"},
                "duration": {"high": "1 h"},
            },
        }
    )
    limits = TechniqueLimits.from_config("pstat", config.limits, Q(2, "cm**2"))
    assert limits.potential == (pytest.approx(-0.5), pytest.approx(4.5))
    assert limits.current_density == pytest.approx(50.0)
    assert limits.electrode_area == pytest.approx(2e-4)
    assert limits.duration == pytest.approx(3600.0)


def test_limit_names_and_dimensions_are_checked() -> None:
    config = DeviceConfig.model_validate(
        {
            "kind": "potentiostat",
            "driver": "scpi",
            "address": "x",
            "limits": {
                "potential": {"high": "5 mA"},
                "voltage": {"high": "5 V"},
                "current": {"low": "1 mA", "high": "5 mA"},
            },
        }
    )
    issues = {issue.path: issue.message for issue in limit_issues("pstat", config.limits)}
    assert "wrong dimension" in issues[("devices", "pstat", "limits", "potential", "high")]
    assert "unknown limit" in issues[("devices", "pstat", "limits", "voltage")]
    assert "magnitude" in issues[("devices", "pstat", "limits", "current", "low")]


@settings(max_examples=200, deadline=None)
@given(
    on=st.floats(0.01, 100.0),
    off=st.floats(0.0, 100.0),
    on_ms=st.floats(0.1, 1000.0),
    off_ms=st.floats(0.1, 1000.0),
)
def test_average_current_lies_between_the_pulse_levels(
    on: float, off: float, on_ms: float, off_ms: float
) -> None:
    pulses = PulseTrain(
        on_current=Q(-on, "mA"),
        off_current=Q(off, "mA"),
        on_time=Q(on_ms, "ms"),
        off_time=Q(off_ms, "ms"),
        cycles=1,
    )
    average = pulses.average_current.to("mA").magnitude
    assert -on - 1e-9 <= average <= off + 1e-9
    assert 0 < pulses.duty_cycle < 1
