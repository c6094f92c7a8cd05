"""The Cavro pump twin at the wire: DT framing, error timing, liquid accounting in the world."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from labctl.config import DeviceConfig
from labctl.errors import ConfigError
from labctl.simulators.cavro.instrument import (
    CavroBus,
    CavroBusSession,
    PortBinding,
    SimulatedPump,
)
from labctl.simulators.cavro.twin import CavroTwin
from labctl.simulators.world import Stock, World

SALT = {"LiPF6": 0.12, "EC": 0.44, "DMC": 0.44}


def make_world() -> World:
    world = World(seed=9)
    world.add_stocks([Stock("salt", SALT, density=1.25, volume=20.0)])
    return world


def make_pump(world: World, **kwargs: object) -> SimulatedPump:
    bindings = {1: PortBinding("stock", "salt"), 2: PortBinding("vial", "A1")}
    return SimulatedPump(world, bindings=bindings, **kwargs)  # type: ignore[arg-type]


def ask(session: CavroBusSession, frame: str) -> list[bytes]:
    return list(session.feed(frame.encode() + b"\r"))


def do(session: CavroBusSession, *frames: str) -> None:
    """Send each frame and poll Q until the pump is ready again."""
    for frame in frames:
        ask(session, frame)
        while not status(ask(session, "/1Q")[0])[0]:
            pass


def status(reply: bytes) -> tuple[bool, int, str]:
    assert reply.startswith(b"/0")
    assert reply.endswith(b"\x03\r\n")
    byte = reply[2]
    return bool(byte & 0x20), byte & 0x0F, reply[3:-3].decode()


@pytest.fixture
def world() -> World:
    return make_world()


@pytest.fixture
def session(world: World) -> CavroBusSession:
    return CavroBusSession(CavroBus({1: make_pump(world)}))


def test_answer_blocks_and_busy_then_ready(session: CavroBusSession) -> None:
    assert [status(r) for r in ask(session, "/1Q")] == [(True, 0, "")]
    assert [status(r) for r in ask(session, "/1ZR")] == [(False, 0, "")]
    assert status(ask(session, "/1Q")[0]) == (False, 0, "")  # one busy poll
    assert status(ask(session, "/1Q")[0]) == (True, 0, "")
    assert status(ask(session, "/1&")[0])[2].startswith("XCalibur")


def test_error_timing_follows_the_manual(session: CavroBusSession) -> None:
    assert status(ask(session, "/1A100R")[0])[1] == 7  # before initialisation: at once
    ask(session, "/1ZR")
    assert status(ask(session, "/1A100R")[0])[1] == 15  # still busy: command overflow
    ask(session, "/1Q")
    assert status(ask(session, "/1E2000R")[0]) == (True, 2, "")  # unknown: at once
    assert status(ask(session, "/1A3001R")[0])[1] == 0  # bad operand: accepted...
    assert status(ask(session, "/1Q")[0])[1] == 3  # ...reported by Q
    assert status(ask(session, "/1Q")[0])[1] == 0  # and cleared
    assert status(ask(session, "/1?")[0])[2] == "0"  # the plunger never moved
    assert status(ask(session, "/1I10R")[0])[1] == 0
    assert status(ask(session, "/1Q")[0])[1] == 3  # a port the valve lacks
    assert status(ask(session, "/1V7000R")[0])[1] == 0
    assert status(ask(session, "/1Q")[0])[1] == 3


def test_resolution_scales_the_reports(session: CavroBusSession) -> None:
    for frame in ("/1ZR", "/1Q", "/1A1500R", "/1Q"):
        ask(session, frame)
    assert status(ask(session, "/1?")[0])[2] == "1500"
    ask(session, "/1N1R")
    assert status(ask(session, "/1?")[0])[2] == "12000"
    ask(session, "/1A24000R")
    ask(session, "/1Q")
    ask(session, "/1N0R")
    assert status(ask(session, "/1?")[0])[2] == "3000"
    ask(session, "/1S0R")
    assert status(ask(session, "/1?2")[0])[2] == "6000"


def test_addresses_on_the_bus(world: World) -> None:
    session = CavroBusSession(CavroBus({1: make_pump(world), 15: make_pump(world)}))
    assert ask(session, "/2Q") == []  # nobody at address 2
    assert len(ask(session, "/?Q")) == 1  # address 15 = '?'
    assert ask(session, "/_ZR") == []  # all pumps: executed, no answer
    assert session.bus.pumps[1].initialized
    assert session.bus.pumps[15].initialized
    assert list(session.feed(b"/1Q")) == []  # no CR yet
    assert len(list(session.feed(b"\r/1Q\r"))) == 2


def test_liquid_moves_from_stock_to_vial(session: CavroBusSession, world: World) -> None:
    for frame in ("/1ZR", "/1Q", "/1I1P1500R", "/1Q", "/1I2D1500R", "/1Q"):
        ask(session, frame)
    pump = session.bus.pumps[1]
    assert world.stocks["salt"].volume == pytest.approx(19.5)
    assert world.vial("A1").contents.total_mass == pytest.approx(0.625)
    assert pump.liquid_volume == pytest.approx(0.0, abs=1e-12)


def test_dosing_error_is_seeded_and_the_books_balance() -> None:
    def run(seed: int) -> tuple[float, float]:
        world = make_world()
        pump = make_pump(world, dosing_error=0.01, rng=np.random.default_rng(seed))
        session = CavroBusSession(CavroBus({1: pump}))
        do(session, "/1ZR")
        for _ in range(5):
            do(session, "/1I1P3000R", "/1I2D3000R")
        drawn = 20.0 - world.stocks["salt"].volume
        arrived = world.vial("A1").contents.total_mass / 1.25
        return drawn, arrived

    drawn, arrived = run(1)
    assert drawn == pytest.approx(arrived, rel=1e-9)
    assert drawn != pytest.approx(5.0, abs=1e-6)
    assert abs(drawn - 5.0) < 0.05
    assert run(1) == run(1)
    assert run(2) != run(1)


def test_a_clog_delivers_30_percent_less(world: World) -> None:
    pump = make_pump(world)
    session = CavroBusSession(CavroBus({1: pump}))
    pump.clog = True
    do(session, "/1ZR", "/1I1P3000R", "/1I2D3000R")
    assert world.stocks["salt"].volume == pytest.approx(19.0)
    assert world.vial("A1").contents.total_mass == pytest.approx(0.7 * 1.25)
    assert pump.lost_volume == pytest.approx(0.3)


def test_a_stock_running_dry_pumps_air(world: World) -> None:
    world.stocks["salt"].volume = 0.2
    session = CavroBusSession(CavroBus({1: make_pump(world)}))
    do(session, "/1ZR", "/1I1P3000R", "/1I2D3000R")
    assert world.stocks["salt"].volume == 0.0
    assert world.vial("A1").contents.total_mass == pytest.approx(0.25)


def test_faults_and_injected_errors(world: World) -> None:
    twin = CavroTwin({1: make_pump(world)})
    session = twin.session()
    do(session, "/1ZR")
    twin.inject("plunger_overload")
    ask(session, "/1A100R")
    assert status(ask(session, "/1Q")[0])[1] == 9
    assert status(ask(session, "/1A100R")[0])[1] == 9  # until re-initialised
    do(session, "/1ZR")
    twin.inject_error(11)
    assert status(ask(session, "/1A100R")[0])[1] == 11
    assert status(ask(session, "/1Q")[0])[1] == 0
    with pytest.raises(ValueError, match="no 'flood' fault"):
        twin.inject("flood")
    assert {"clog", "silence"} <= twin.chaos_faults()
    end = twin.begin_fault("clog")
    assert twin.pump.clog
    end()
    assert not twin.pump.clog


def test_served_on_loopback(world: World) -> None:
    import socket

    twin = CavroTwin({1: make_pump(world)})
    address = twin.start()
    try:
        host, port = address.removeprefix("socket://").split(":")
        with socket.create_connection((host, int(port)), timeout=2) as connection:
            connection.sendall(b"/1Q\r")
            assert connection.recv(100) == b"/0`\x03\r\n"
        assert twin.server.bytes_received == 4
    finally:
        twin.stop()


def test_from_config_binds_ports_and_defines_stocks() -> None:
    world = World(seed=1)
    device = DeviceConfig.model_validate(
        {
            "kind": "syringe-pump",
            "driver": "cavro",
            "twin": {
                "kind": "cavro",
                "options": {
                    "stocks": {1: "dmc"},
                    "vials": {3: "B1"},
                    "define_stocks": [
                        {
                            "name": "dmc",
                            "mass_fractions": {"DMC": 1.0},
                            "density": 1.06,
                            "volume": 5,
                        }
                    ],
                },
            },
            "options": {"syringe_volume": "2.5 mL", "ports": 6, "pump_address": 4},
        }
    )
    assert device.twin is not None
    twin = CavroTwin.from_config("p", device, device.twin, seed=3, time_scale=0, world=world)
    assert set(twin.bus.pumps) == {4}
    assert twin.pump.syringe_volume == 2.5
    assert world.stocks["dmc"].volume == 5
    bad = device.model_copy(
        update={"twin": device.twin.model_copy(update={"options": {"stocks": {9: "dmc"}}})}
    )
    assert bad.twin is not None
    with pytest.raises(ConfigError, match="ports 1…6"):
        CavroTwin.from_config("p", bad, bad.twin, seed=3, time_scale=0, world=world)
    unknown = device.model_copy(
        update={"twin": device.twin.model_copy(update={"options": {"stocks": {1: "nope"}}})}
    )
    assert unknown.twin is not None
    with pytest.raises(ConfigError, match="no stock 'nope'"):
        CavroTwin.from_config("p", unknown, unknown.twin, seed=3, time_scale=0, world=World())


@settings(max_examples=300, deadline=None, derandomize=True)
@given(st.binary(max_size=200))
def test_random_bytes_never_break_the_twin(data: bytes) -> None:
    session = CavroBusSession(CavroBus({1: make_pump(make_world())}))
    for reply in session.feed(data):
        assert reply.startswith(b"/0")
        assert reply.endswith(b"\x03\r\n")
