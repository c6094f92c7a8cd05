"""The registry: built-in names, entry points from other distributions, duplicates refused."""

from __future__ import annotations

from importlib.metadata import EntryPoint
from typing import Any

import pytest

from labctl import plugins
from labctl.lab import registry
from labctl.lab.registry import RegistryError


@pytest.fixture
def fresh_tables() -> Any:
    registry._device_table.cache_clear()
    registry._twin_table.cache_clear()
    yield
    registry._device_table.cache_clear()
    registry._twin_table.cache_clear()


def _fake_entry_points(group_entries: dict[str, list[EntryPoint]]) -> Any:
    def entry_points(*, group: str) -> list[EntryPoint]:
        return group_entries.get(group, [])

    return entry_points


def test_builtin_names_resolve() -> None:
    from labctl.devices.environment import EnvironmentSensor
    from labctl.simulators.environment.twin import EnvironmentTwin

    assert registry.device_class("environment-sensor", "opcua") is EnvironmentSensor
    assert registry.twin_class("opcua-environment") is EnvironmentTwin
    assert "opcua" in registry.device_kinds()["environment-sensor"]


def test_a_lab_adds_its_own_device_through_an_entry_point(
    monkeypatch: pytest.MonkeyPatch, fresh_tables: Any
) -> None:
    extra = EntryPoint(
        name="thermometer:opcua",
        value="labctl.devices.environment:EnvironmentSensor",
        group=registry.DEVICE_GROUP,
    )
    monkeypatch.setattr(
        plugins, "entry_points", _fake_entry_points({registry.DEVICE_GROUP: [extra]})
    )
    assert "thermometer" in registry.device_kinds()


def test_two_classes_claiming_one_name_is_an_error(
    monkeypatch: pytest.MonkeyPatch, fresh_tables: Any
) -> None:
    clash = EntryPoint(
        name="opcua-environment", value="mylab.twins:OtherTwin", group=registry.TWIN_GROUP
    )
    monkeypatch.setattr(
        plugins, "entry_points", _fake_entry_points({registry.TWIN_GROUP: [clash]})
    )
    with pytest.raises(RegistryError, match="claimed by both"):
        registry.twin_kinds()


def test_an_unimportable_class_is_a_clear_error(
    monkeypatch: pytest.MonkeyPatch, fresh_tables: Any
) -> None:
    broken = EntryPoint(name="ghost", value="mylab.nowhere:Ghost", group=registry.TWIN_GROUP)
    monkeypatch.setattr(
        plugins, "entry_points", _fake_entry_points({registry.TWIN_GROUP: [broken]})
    )
    with pytest.raises(RegistryError, match=r"cannot import mylab\.nowhere:Ghost"):
        registry.twin_class("ghost")


def test_device_options_are_parsed_once_on_the_way_down(
    sim_lab_config: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The registry parses each device's options once; the lab builds the device from them."""
    from labctl.devices.environment import EnvironmentSensorOptions
    from labctl.lab.session import Lab

    calls: list[Any] = []
    original = EnvironmentSensorOptions.model_validate.__func__  # type: ignore[attr-defined]

    def counted(cls: type[EnvironmentSensorOptions], *args: Any, **kwargs: Any) -> Any:
        calls.append(args[0] if args else kwargs)
        return original(cls, *args, **kwargs)

    monkeypatch.setattr(EnvironmentSensorOptions, "model_validate", classmethod(counted))
    with Lab.from_config(sim_lab_config, with_store=False) as lab:
        sensors = [name for name, device in lab.devices.items() if device in lab.sensors()]
    assert len(sensors) == 2
    assert len(calls) == len(sensors)


def test_the_registry_alone_says_which_drivers_a_kind_has() -> None:
    from labctl.config import DeviceConfig

    wrong = DeviceConfig.model_validate(
        {"kind": "stage", "driver": "marlin", "address": "socket://127.0.0.1:1"}
    )
    (issue,) = registry.device_issues("stage", wrong)
    assert issue.path == ("devices", "stage", "driver")
    assert "known drivers: grbl" in issue.message


def test_the_potentiostat_speaks_exactly_the_drivers_the_registry_names() -> None:
    from labctl.devices.potentiostat.device import _DRIVERS

    assert set(registry.device_kinds()["potentiostat"]) == set(_DRIVERS)
