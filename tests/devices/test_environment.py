"""EnvironmentSensor: bluesky protocols, describe/read agreement, units, alarm limits, faults."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from bluesky import protocols

from labctl.config import parse_config
from labctl.devices.environment import EnvironmentSensor
from labctl.errors import DeviceTimeout
from labctl.lab.registry import build_device, device_issues

CONFIG = """
lab: {name: test}
devices:
  glovebox:
    kind: environment-sensor
    driver: opcua
    address: opc.tcp://127.0.0.1:4840
    timeout: {connect: 2 s, read: 500 ms}
    options:
      channels:
        o2: {node: "ns=2;s=glovebox.o2", units: ppm, precision: 2}
        temperature: {node: "ns=2;s=glovebox.temperature", units: degC}
        pressure: {node: "ns=2;s=glovebox.pressure", units: hPa}
    limits:
      o2: {high: 1 ppm}
      temperature: {low: 15 degC, high: 35 degC}
"""


@pytest.fixture
def sensor(environment_twin: Any) -> Iterator[EnvironmentSensor]:
    config = parse_config(CONFIG).model.devices["glovebox"]
    device = build_device("glovebox", config, environment_twin.address)
    device.connect()
    yield device
    device.close()


def test_satisfies_the_protocols_it_claims(sensor: EnvironmentSensor) -> None:
    assert isinstance(sensor, protocols.Readable)
    assert isinstance(sensor, protocols.Configurable)


def test_describe_keys_equal_read_keys(sensor: EnvironmentSensor) -> None:
    assert set(sensor.describe()) == set(sensor.read())
    assert set(sensor.describe()) == {"glovebox_o2", "glovebox_temperature", "glovebox_pressure"}


def test_values_are_recorded_in_si_with_units_and_limits(sensor: EnvironmentSensor) -> None:
    description = sensor.describe()
    reading = sensor.read()
    assert description["glovebox_temperature"]["units"] == "K"
    assert 293.0 < reading["glovebox_temperature"]["value"] < 303.0
    assert description["glovebox_pressure"]["units"] == "Pa"
    assert 9.0e4 < reading["glovebox_pressure"]["value"] < 1.1e5
    assert description["glovebox_o2"]["units"] == "ppm"
    assert description["glovebox_o2"]["precision"] == 2
    assert description["glovebox_o2"]["limits"] == {"alarm": {"low": None, "high": 1.0}}
    low = description["glovebox_temperature"]["limits"]["alarm"]["low"]
    assert low == pytest.approx(288.15)
    assert description["glovebox_o2"]["dtype"] == "number"
    assert description["glovebox_o2"]["shape"] == []


def test_channel_values_reads_all_at_once(sensor: EnvironmentSensor) -> None:
    values = sensor.channel_values()
    assert set(values) == {"o2", "temperature", "pressure"}


def test_count_records_every_channel(sensor: EnvironmentSensor, run_engine: Any) -> None:
    import bluesky.plans as bp

    events: list[dict[str, Any]] = []
    run_engine.subscribe(lambda name, doc: events.append(doc) if name == "event" else None)
    run_engine(bp.count([sensor], num=3))
    assert len(events) == 3
    assert all(set(event["data"]) == set(sensor.describe()) for event in events)


def test_a_silent_controller_fails_the_run_with_a_clear_reason(
    sensor: EnvironmentSensor, environment_twin: Any, run_engine: Any
) -> None:
    import bluesky.plans as bp

    stops: list[dict[str, Any]] = []
    run_engine.subscribe(lambda name, doc: stops.append(doc) if name == "stop" else None)
    environment_twin.freeze()
    with pytest.raises(DeviceTimeout):
        run_engine(bp.count([sensor], num=2))
    environment_twin.thaw()
    assert stops[0]["exit_status"] == "fail"
    assert "glovebox" in stops[0]["reason"]
    assert "no reply within 0.5 s" in stops[0]["reason"]
    assert sensor.read()  # recovers: the next read reconnects


def test_config_check_names_bad_limits() -> None:
    text = CONFIG.replace("o2: {high: 1 ppm}", "o2: {high: 1 degC}")
    config = parse_config(text).model.devices["glovebox"]
    issues = device_issues("glovebox", config)
    assert [issue.key_path for issue in issues] == ["devices.glovebox.limits.o2.high"]
