"""The Balance device and its MT-SICS driver against the balance twin, in memory and on TCP."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest
from bluesky import plans as bp

from labctl.config import DeviceConfig
from labctl.devices.dispensing.balance import Balance, BalanceOptions, MtSicsDriver
from labctl.devices.dispensing.balance_protocol import (
    BalanceNotExecutableError,
    BalanceOverloadError,
    BalanceSyntaxError,
    BalanceUnderloadError,
)
from labctl.errors import DeviceConnectionError, DeviceTimeout, ProtocolError
from labctl.lab.registry import build_device, device_class, device_issues, twin_class
from labctl.simulators.mtsics.instrument import SimulatedBalance
from labctl.simulators.mtsics.twin import MtSicsTwin
from labctl.simulators.world import Mixture, World
from labctl.transports.memory import MemoryTransport


def balance_config(**twin_options: Any) -> DeviceConfig:
    return DeviceConfig.model_validate(
        {
            "kind": "balance",
            "driver": "mtsics",
            "timeout": "0.3 s",
            "twin": {
                "kind": "mtsics",
                "options": {"vial": "A1", "serial_number": "B4711", **twin_options},
            },
            "options": {"stability_timeout": "1 s"},
        }
    )


@pytest.fixture
def world() -> World:
    world = World(seed=2)
    world.vial("A1").tare = 12.5
    return world


@pytest.fixture
def served(world: World) -> Iterator[tuple[MtSicsTwin, Balance]]:
    config = balance_config()
    assert config.twin is not None
    twin = MtSicsTwin.from_config(
        "balance", config, config.twin, seed=4, time_scale=0, world=world
    )
    balance = build_device("balance", config, twin.start())
    try:
        balance.connect()
        yield twin, balance
    finally:
        balance.close()
        twin.stop()


def in_memory(world: World, *, require_stable: bool = True, **twin_options: Any) -> Any:
    config = balance_config(**twin_options)
    assert config.twin is not None
    twin = MtSicsTwin.from_config(
        "balance", config, config.twin, seed=4, time_scale=0, world=world
    )
    transport = MemoryTransport(twin.session(), device="balance", terminator=b"\r\n")
    driver = MtSicsDriver(transport, device="balance", stability_timeout=1.0)
    options = BalanceOptions.model_validate({"require_stable": require_stable})
    balance = Balance(driver=driver, options=options, name="balance")
    balance.connect()
    return twin, balance


def test_registered_under_its_config_names() -> None:
    assert device_class("balance", "mtsics") is Balance
    assert twin_class("mtsics") is MtSicsTwin


def test_weighs_the_world_vial_in_kg(
    served: tuple[MtSicsTwin, Balance], world: World, run_engine: Any
) -> None:
    _, balance = served
    assert balance.serial_number == "B4711"
    world.vial("A1").contents.add(Mixture({"EC": 1.0, "DMC": 0.5}))
    balance.trigger().wait(5)
    reading = balance.read()
    assert reading["balance_mass"]["value"] == pytest.approx(0.014, abs=2e-7)
    assert reading["balance_stable"]["value"] == 1
    description = balance.describe()
    assert set(description) == set(reading)
    assert description["balance_mass"]["units"] == "kg"
    assert description["balance_mass"]["source"].startswith("mtsics:socket://")
    (uid,) = run_engine(bp.count([balance], num=2))
    assert isinstance(uid, str)


def test_dynamic_readings_are_flagged(world: World) -> None:
    _, balance = in_memory(world, require_stable=False, settling_time=1.0, sample_period=0.3)
    balance.trigger().wait(5)
    assert balance.stable.get() == 1
    world.vial("A1").contents.add(Mixture({"EC": 2.0}))
    balance.trigger().wait(5)
    assert balance.stable.get() == 0  # settling: a transient value
    assert balance.mass.get() < 0.0145
    for _ in range(4):
        balance.trigger().wait(5)
    assert balance.stable.get() == 1
    assert balance.mass.get() == pytest.approx(0.0145, abs=2e-7)


def test_zero_and_tare(world: World) -> None:
    _, balance = in_memory(world)
    balance.zero().wait(5)
    assert balance.weigh().to("g").magnitude == pytest.approx(0.0, abs=2e-4)
    world.vial("A1").contents.add(Mixture({"EC": 1.0}))
    balance.tare().wait(5)
    assert balance.weigh().to("g").magnitude == pytest.approx(0.0, abs=2e-4)
    assert balance.driver.tare().to("g").magnitude == pytest.approx(1.0, abs=2e-4)  # the tare
    balance.driver.reset()  # clears the tare
    assert balance.weigh().to("g").magnitude == pytest.approx(1.0, abs=2e-4)


@pytest.mark.parametrize(
    ("fault", "error"),
    [
        ("unstable", BalanceNotExecutableError),
        ("overload", BalanceOverloadError),
        ("underload", BalanceUnderloadError),
    ],
)
def test_instrument_faults_are_named_errors(world: World, fault: str, error: type) -> None:
    twin, balance = in_memory(world)
    twin.inject(fault)
    with pytest.raises(error):
        balance.trigger().wait(5)
    twin.inject(None)
    balance.trigger().wait(5)


def test_beyond_capacity_is_an_overload(world: World) -> None:
    _, balance = in_memory(world, capacity=10.0)  # the empty vial alone weighs 12.5 g
    with pytest.raises(BalanceOverloadError, match="exceeds"):
        balance.weigh()


def test_an_unknown_command_is_a_syntax_error(world: World) -> None:
    _, balance = in_memory(world)
    with pytest.raises(BalanceSyntaxError):
        balance.driver.command("XYZ")


def test_s_waits_for_settling_at_real_time(world: World) -> None:
    balance = SimulatedBalance(world, vial="A1", settling_time=2.0, time_scale=20.0, noise=0.0)
    twin = MtSicsTwin(balance)
    driver = MtSicsDriver(
        MemoryTransport(twin.session(), device="b", terminator=b"\r\n"), device="b"
    )
    world.vial("A1").contents.add(Mixture({"EC": 3.0}))
    assert not driver.weigh_immediately().stable
    started = time.monotonic()
    weighing = driver.weigh()
    waited = time.monotonic() - started
    assert weighing.stable
    assert weighing.mass.to("g").magnitude == pytest.approx(15.5, abs=1e-4)
    assert 0.05 < waited < 0.5  # 2 s of settling at 20× is 0.1 s


def test_drift_moves_the_zero_until_rezeroed(world: World) -> None:
    _, balance = in_memory(world, drift=3.6, noise=0.0, sample_period=100.0)
    first = balance.driver.weigh_immediately().mass.to("g").magnitude
    later = balance.driver.weigh_immediately().mass.to("g").magnitude
    assert later - first == pytest.approx(0.1, abs=2e-4)  # 3.6 g/h over 100 s
    balance.driver.zero()
    assert balance.weigh().to("g").magnitude == pytest.approx(0.0, abs=2e-4)


def test_a_silent_balance_times_out_and_the_next_call_recovers(
    served: tuple[MtSicsTwin, Balance],
) -> None:
    twin, balance = served
    twin.inject("silence")
    started = time.monotonic()
    with pytest.raises(DeviceTimeout, match="balance"):
        balance.trigger().wait(5)
    assert time.monotonic() - started < 2.0
    twin.inject(None)
    balance.trigger().wait(5)


@pytest.mark.parametrize(
    ("fault", "error"), [("drop", DeviceConnectionError), ("garbage", ProtocolError)]
)
def test_wire_faults_give_clear_errors_then_recover(
    served: tuple[MtSicsTwin, Balance], fault: str, error: type[Exception]
) -> None:
    twin, balance = served
    twin.inject(fault)
    with pytest.raises((error, DeviceTimeout)) as caught:
        balance.driver.identify()
    assert "balance" in str(caught.value)
    assert balance.driver.identify() == "B4711"


def test_config_checks() -> None:
    config = DeviceConfig.model_validate(
        {
            "kind": "balance",
            "driver": "mtsics",
            "address": "COM4",
            "options": {"stable": True},
            "limits": {"mass": {"high": "200 g"}},
        }
    )
    messages = [str(issue) for issue in device_issues("balance", config)]
    assert any("options.stable" in message for message in messages)
    twin_issues = MtSicsTwin.check_config(
        "balance",
        config,
        balance_config(capacity=-1).twin,  # type: ignore[arg-type]
    )
    assert any("capacity" in str(issue) for issue in twin_issues)
