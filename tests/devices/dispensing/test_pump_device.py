"""The SyringePump device and its Cavro driver against the pump twin, in memory and on loopback."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest

from labctl.config import DeviceConfig
from labctl.devices.dispensing.pump import SyringePump
from labctl.devices.dispensing.pump_driver import CavroBus, CavroPumpDriver
from labctl.devices.dispensing.pump_protocol import (
    PUMP_ERRORS,
    InvalidOperandError,
    PlungerOverloadError,
    PumpError,
    PumpInitializationError,
    PumpNotInitializedError,
    UnknownPumpError,
    ValveOverloadError,
)
from labctl.errors import (
    DeviceConnectionError,
    DeviceTimeout,
    ProtocolError,
    SafetyLimitError,
    UnitError,
)
from labctl.lab.registry import build_device, device_class, device_issues, twin_class
from labctl.simulators.cavro.instrument import PortBinding, SimulatedPump
from labctl.simulators.cavro.twin import CavroTwin
from labctl.simulators.world import Stock, World
from labctl.transports.memory import MemoryTransport

SALT = {"LiPF6": 0.12, "EC": 0.44, "DMC": 0.44}


def pump_config(**options: Any) -> DeviceConfig:
    return DeviceConfig.model_validate(
        {
            "kind": "syringe-pump",
            "driver": "cavro",
            "timeout": "0.3 s",
            "twin": {
                "kind": "cavro",
                "options": {"stocks": {1: "salt"}, "vials": {2: "A1"}, "dosing_error": 0.0},
            },
            "options": {
                "syringe_volume": "1 mL",
                "ports": 6,
                "allowed_ports": [1, 2, 3, 4],
                "port_names": {"waste": 4},
                "poll_interval": "1 ms",
                **options,
            },
            "limits": {"volume": {"high": "0.8 mL"}},
        }
    )


def make_world() -> World:
    world = World(seed=5)
    world.add_stocks([Stock("salt", SALT, density=1.25, volume=50.0)])
    return world


@pytest.fixture
def world() -> World:
    return make_world()


@pytest.fixture
def served(world: World) -> Iterator[tuple[CavroTwin, SyringePump]]:
    """The twin on loopback and a connected pump device built from config."""
    config = pump_config()
    assert config.twin is not None
    twin = CavroTwin.from_config("pump", config, config.twin, seed=1, time_scale=0, world=world)
    address = twin.start()
    pump = build_device("pump", config, address)
    try:
        pump.connect()
        yield twin, pump
    finally:
        pump.close()
        twin.stop()


def in_memory(world: World, **options: Any) -> tuple[CavroTwin, SyringePump]:
    config = pump_config(**options)
    assert config.twin is not None
    twin = CavroTwin.from_config("pump", config, config.twin, seed=1, time_scale=0, world=world)
    bus = CavroBus(MemoryTransport(twin.session(), device="pump", terminator=b"\n"))
    driver = CavroPumpDriver(bus, 1, device="pump", poll_interval=0.0, move_timeout=2.0)
    pump = SyringePump(
        driver=driver,
        options=SyringePump.Options.model_validate(config.options),  # type: ignore[arg-type]
        volume_limit=config.limits["volume"].high,
        name="pump",
    )
    pump.connect()
    return twin, pump


def test_registered_under_its_config_names() -> None:
    assert device_class("syringe-pump", "cavro") is SyringePump
    assert twin_class("cavro") is CavroTwin


def test_connect_initialises_and_reads(served: tuple[CavroTwin, SyringePump]) -> None:
    twin, pump = served
    assert twin.pump.initialized
    assert twin.pump.top_speed == 1400
    reading = pump.read()
    assert reading["pump_volume"]["value"] == 0.0
    assert reading["pump_port"]["value"] == 1
    description = pump.describe()
    assert set(description) == set(reading)
    assert description["pump_volume"]["units"] == "m**3"


def test_aspirate_and_dispense_move_liquid_in_the_world(
    served: tuple[CavroTwin, SyringePump], world: World
) -> None:
    _, pump = served
    pump.aspirate("0.5 mL", port=1).wait(5)
    assert pump.held_volume.to("mL").magnitude == pytest.approx(0.5)
    assert pump.read()["pump_plunger"]["value"] == 1500
    assert world.stocks["salt"].volume == pytest.approx(49.5)
    pump.dispense("500 uL", port=2).wait(5)
    assert world.vial("A1").contents.total_mass == pytest.approx(0.5 * 1.25)
    assert world.vial("A1").contents.mass_fractions()["LiPF6"] == pytest.approx(0.12)
    assert pump.read()["pump_last_volume"]["value"] == pytest.approx(-0.5e-6)


def test_transfer_splits_into_strokes_within_the_limit(
    served: tuple[CavroTwin, SyringePump], world: World
) -> None:
    twin, pump = served
    pump.transfer("2 mL", 1, 2).wait(10)
    strokes = [c for c in twin.pump.commands if "P" in c]
    assert strokes == ["I1P2400R", "I1P2400R", "I1P1200R"]  # 0.8 mL limit
    assert world.vial("A1").contents.total_mass == pytest.approx(2.0 * 1.25)
    assert world.stocks["salt"].volume == pytest.approx(48.0)


REFUSED: list[tuple[Any, str]] = [
    (lambda p: p.aspirate("0.9 mL", 1), "≤ 0.8 ml"),  # over the per-stroke limit
    (lambda p: p.aspirate("0.5 mL", 5), "valve port"),  # not allowed by the lab
    (lambda p: p.aspirate("0.5 mL", 9), "valve port"),  # the valve has 6 ports
    (lambda p: p.aspirate("0.5 mL", "drain"), "valve port"),  # unknown port name
    (lambda p: p.aspirate("0 mL", 1), "> 0 mL"),
    (lambda p: p.aspirate("-1 mL", 1), "> 0 mL"),
    (lambda p: p.aspirate("0.1 uL", 1), "one increment"),
    (lambda p: p.dispense("0.1 mL", 2), "what the syringe holds"),
    (lambda p: p.set("1.5 mL"), "held volume"),
    (lambda p: p.transfer("1 mL", 1, 6), "valve port"),
]


def test_refused_requests_send_nothing(served: tuple[CavroTwin, SyringePump]) -> None:
    twin, pump = served
    before = twin.server.bytes_received
    for call, match in REFUSED:
        with pytest.raises(SafetyLimitError, match=match) as caught:
            call(pump)
        assert "nothing was sent" in str(caught.value)
    assert twin.server.bytes_received == before


def test_a_volume_without_volume_units_is_refused_before_sending(
    served: tuple[CavroTwin, SyringePump],
) -> None:
    twin, pump = served
    before = twin.server.bytes_received
    with pytest.raises(UnitError):
        pump.aspirate("5 g", 1)
    assert twin.server.bytes_received == before


def test_more_than_the_syringe_room_is_refused(world: World) -> None:
    twin, pump = in_memory(world)
    pump.aspirate("0.8 mL", 1).wait(5)
    sent = len(twin.pump.commands)
    with pytest.raises(SafetyLimitError, match="syringe room"):
        pump.aspirate("0.3 mL", 1)
    assert len(twin.pump.commands) == sent


def test_named_port_and_set(world: World) -> None:
    twin, pump = in_memory(world)
    pump.aspirate("0.2 mL", "waste").wait(5)  # air
    assert twin.pump.port == 4
    pump.set("0.5 mL").wait(5)
    assert pump.held_volume.to("mL").magnitude == pytest.approx(0.5)


@pytest.mark.parametrize("code", sorted({*PUMP_ERRORS, 8, 12, 13, 14}))
def test_every_error_code_surfaces_as_its_named_error(world: World, code: int) -> None:
    twin, pump = in_memory(world)
    twin.inject_error(code)
    status = pump.aspirate("0.1 mL", 1)
    with pytest.raises(PumpError) as caught:
        status.wait(5)
    expected = PUMP_ERRORS.get(code, UnknownPumpError)
    assert type(caught.value) is expected
    assert caught.value.error_code == code
    pump.aspirate("0.1 mL", 1).wait(5)  # an injected error is not sticky


def test_plunger_overload_needs_a_new_initialisation(world: World) -> None:
    twin, pump = in_memory(world, recover_fatal_errors=False)
    twin.inject("plunger_overload")
    with pytest.raises(PlungerOverloadError, match="initialise again"):
        pump.aspirate("0.1 mL", 1).wait(5)
    with pytest.raises(PlungerOverloadError):
        pump.aspirate("0.1 mL", 1).wait(5)  # answered at once until re-initialised
    pump.initialize().wait(5)
    pump.aspirate("0.1 mL", 1).wait(5)
    assert pump.held_volume.to("mL").magnitude == pytest.approx(0.1)


@pytest.mark.parametrize("fault", ["plunger_overload", "valve_overload", "power_cycle"])
def test_the_next_request_initialises_after_a_fatal_error(world: World, fault: str) -> None:
    """Chaos found it: one transient overload failed every later experiment of a campaign.

    The pump refuses every move until initialised; by default the request after a fatal error
    initialises first, which empties the syringe (here: to the waste port) and goes on.
    """
    twin, pump = in_memory(world)
    pump.aspirate("0.2 mL", 1).wait(5)
    twin.inject(fault)
    with pytest.raises(PumpError):
        pump.aspirate("0.1 mL", 2 if fault == "valve_overload" else 1).wait(5)
    twin.inject(None)  # the blockage is cleared (the instrument itself still refuses moves)
    pump.transfer("0.3 mL", 1, 2).wait(5)  # a transfer despite what the syringe held
    assert pump.held_volume.to("mL").magnitude == pytest.approx(0.0)
    assert world.vials["A1"].contents.total_mass > 0
    initialisations = [command for command in twin.pump.commands if command.startswith("Z")]
    assert len(initialisations) == 2  # on connect, and before the transfer


def test_a_transfer_after_a_failed_one_empties_the_syringe_first(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Chaos found it: a transfer cut short left liquid in the syringe.

    The pump then refused every later transfer ("held volume … 0 mL to transfer") for the rest
    of the campaign.
    """
    twin, pump = in_memory(world)
    dispense = pump.driver.dispense

    def line_lost(*args: object, **kwargs: object) -> None:
        raise DeviceConnectionError("pump", "memory://twin", "connection lost")

    monkeypatch.setattr(pump.driver, "dispense", line_lost)
    with pytest.raises(DeviceConnectionError):
        pump.transfer("0.3 mL", 1, 2).wait(5)
    assert pump.held_volume.to("mL").magnitude == pytest.approx(0.3)
    monkeypatch.setattr(pump.driver, "dispense", dispense)
    pump.transfer("0.2 mL", 1, 2).wait(5)
    assert pump.held_volume.to("mL").magnitude == pytest.approx(0.0)
    assert twin.pump.waste_volume == pytest.approx(0.3, rel=0.01)  # what the first one held
    # A syringe filled on purpose is still refused: only a failed request's leftovers go.
    pump.aspirate("0.1 mL", 1).wait(5)
    with pytest.raises(SafetyLimitError, match="held volume"):
        pump.transfer("0.2 mL", 1, 2)
    _, pump_without = in_memory(make_world(), recover_fatal_errors=False)
    monkeypatch.setattr(pump_without.driver, "dispense", line_lost)
    with pytest.raises(DeviceConnectionError):
        pump_without.transfer("0.3 mL", 1, 2).wait(5)
    with pytest.raises(SafetyLimitError, match="held volume"):
        pump_without.transfer("0.2 mL", 1, 2)


def test_the_initialisation_after_a_failure_waits_for_the_move_to_end(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Chaos found it: a request failed while its move still ran (no reply to the status poll).

    The recovery's initialisation reached a busy pump, which refused it (error 15, command
    overflow) — before every later transfer, for the rest of the campaign.
    """
    twin, pump = in_memory(world)
    wait_ready = pump.driver.wait_ready

    def silent(*args: object, **kwargs: object) -> None:
        raise DeviceTimeout("pump", "memory://twin", "no complete reply within 0.3 s")

    monkeypatch.setattr(pump.driver, "wait_ready", silent)
    with pytest.raises(DeviceTimeout):
        pump.transfer("0.3 mL", 1, 2).wait(5)
    assert twin.pump.busy  # the aspirate still runs: nobody polled it to its end
    monkeypatch.setattr(pump.driver, "wait_ready", wait_ready)
    pump.transfer("0.2 mL", 1, 2).wait(5)
    assert pump.held_volume.to("mL").magnitude == pytest.approx(0.0)


def test_valve_overload_and_failed_initialisation(world: World) -> None:
    twin, pump = in_memory(world)
    twin.inject("valve_overload")
    with pytest.raises(ValveOverloadError):
        pump.aspirate("0.1 mL", 2).wait(5)
    twin.inject("init_failure")
    with pytest.raises(PumpInitializationError):
        pump.initialize().wait(5)
    pump.initialize().wait(5)
    pump.aspirate("0.1 mL", 2).wait(5)


def test_a_pump_that_lost_power_reports_not_initialised(world: World) -> None:
    twin, pump = in_memory(world)
    twin.inject("power_cycle")
    with pytest.raises(PumpNotInitializedError):
        pump.aspirate("0.1 mL", 1).wait(5)
    pump.initialize().wait(5)
    pump.aspirate("0.1 mL", 1).wait(5)


def test_an_operand_beyond_the_stroke_is_reported_by_the_status_poll(world: World) -> None:
    twin, pump = in_memory(world)
    with pytest.raises(InvalidOperandError):
        pump.driver.move_to(3001)
    assert twin.pump.position == 0


def test_the_driver_polls_until_ready_at_real_time(world: World) -> None:
    pumps = {1: SimulatedPump(world, bindings={1: PortBinding("stock", "salt")}, time_scale=20.0)}
    twin = CavroTwin(pumps)
    bus = CavroBus(MemoryTransport(twin.session(), device="p", terminator=b"\n"))
    driver = CavroPumpDriver(bus, 1, device="p", poll_interval=0.005)
    driver.initialize()
    driver.set_speed_code(17)
    assert driver.top_speed() == 200
    with pytest.raises(ValueError, match="0…40"):
        driver.set_speed_code(41)
    driver.set_top_speed(6000)
    assert driver.top_speed() == 6000
    started = time.monotonic()
    driver.aspirate(1, 3000)  # a full stroke: 1 s at 6000 half-steps/s, 50 ms at 20×
    elapsed = time.monotonic() - started
    assert 0.04 <= elapsed < 1.0
    assert sum(1 for command in pumps[1].commands if command == "Q") > 3
    assert driver.plunger_position() == 3000


def test_two_pumps_share_one_bus(world: World) -> None:
    pumps = {
        1: SimulatedPump(world, bindings={1: PortBinding("stock", "salt")}),
        3: SimulatedPump(world, bindings={2: PortBinding("vial", "B2")}),
    }
    twin = CavroTwin(pumps, name="bus")
    address = twin.start()
    try:
        first = CavroBus.shared(address, device="p1", timeout=0.5, baudrate=9600)
        second = CavroBus.shared(address, device="p3", timeout=0.5, baudrate=9600)
        assert first is second
        one = CavroPumpDriver(first, 1, device="p1", poll_interval=0.001)
        three = CavroPumpDriver(second, 3, device="p3", poll_interval=0.001)
        for driver in (one, three):
            driver.initialize()
        one.aspirate(1, 300)
        three.move_to(600)
        assert (one.plunger_position(), three.plunger_position()) == (300, 600)
        assert (pumps[1].position, pumps[3].position) == (300 * 8, 600 * 8)
        first.release()
        assert first.transport.is_open  # type: ignore[attr-defined]
        second.release()
        assert not first.transport.is_open  # type: ignore[attr-defined]
    finally:
        twin.stop()


def test_a_silent_pump_times_out_and_the_next_call_recovers(
    served: tuple[CavroTwin, SyringePump],
) -> None:
    twin, pump = served
    twin.inject("silence")
    started = time.monotonic()
    with pytest.raises(DeviceTimeout, match="pump 1"):
        pump.aspirate("0.1 mL", 1).wait(5)
    assert time.monotonic() - started < 2.0
    twin.inject(None)
    pump.initialize().wait(5)  # where the plunger is after a lost answer is not known
    pump.aspirate("0.1 mL", 1).wait(5)


@pytest.mark.parametrize(
    ("fault", "error"), [("drop", DeviceConnectionError), ("garbage", ProtocolError)]
)
def test_wire_faults_give_clear_errors_then_recover(
    served: tuple[CavroTwin, SyringePump], fault: str, error: type[Exception]
) -> None:
    twin, pump = served
    twin.inject(fault)
    with pytest.raises((error, DeviceTimeout)) as caught:
        pump.driver.status()
    assert "pump" in str(caught.value)
    assert not isinstance(caught.value, PumpError)
    assert pump.driver.status().ready


def test_stop_terminates_a_move(world: World) -> None:
    pumps = {1: SimulatedPump(world, time_scale=10.0)}
    twin = CavroTwin(pumps)
    bus = CavroBus(MemoryTransport(twin.session(), device="p", terminator=b"\n"))
    driver = CavroPumpDriver(bus, 1, device="p", poll_interval=0.005)
    pump = SyringePump(
        driver=driver,
        options=SyringePump.Options.model_validate(  # type: ignore[arg-type]
            {"syringe_volume": "1 mL", "top_speed": 5}
        ),
        name="p",
    )
    pump.connect()  # initialisation takes 1 s of pump time = 0.1 s here: polled through
    status = pump.aspirate("1 mL", 1)
    threading.Timer(0.05, pump.stop).start()
    with pytest.raises(Exception, match="stopped"):
        status.wait(5)
    assert "TR" in pumps[1].commands
    assert not pumps[1].busy


def test_config_checks_name_the_key() -> None:
    config = pump_config(allowed_ports=[1, 7])
    issues = device_issues("pump", config)
    assert any("port 7" in issue.message for issue in issues)
    bad_limit = DeviceConfig.model_validate(
        {
            "kind": "syringe-pump",
            "driver": "cavro",
            "address": "socket://127.0.0.1:1",
            "options": {"syringe_volume": "1 mL"},
            "limits": {"volume": {"high": "1 g"}, "speed": {"high": "1 mL/s"}},
        }
    )
    messages = [str(issue) for issue in device_issues("pump", bad_limit)]
    assert any("limits.volume.high" in message for message in messages)
    assert any("limits.speed" in message for message in messages)
    no_volume = DeviceConfig.model_validate(
        {"kind": "syringe-pump", "driver": "cavro", "address": "COM3", "options": {}}
    )
    assert any("syringe_volume" in str(i) for i in device_issues("p", no_volume))
