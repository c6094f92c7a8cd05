"""The MT-SICS balance twin at the wire: replies, settling, noise, readability, limits."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from labctl.config import DeviceConfig
from labctl.errors import ConfigError
from labctl.simulators.mtsics.instrument import MtSicsSession, SimulatedBalance
from labctl.simulators.mtsics.twin import MtSicsTwin
from labctl.simulators.world import Mixture, World


def ask(session: MtSicsSession, line: str) -> str:
    (reply,) = list(session.feed(line.encode() + b"\r\n"))
    assert reply.endswith(b"\r\n")
    return reply[:-2].decode()


def make(world: World, **kwargs: object) -> MtSicsSession:
    defaults: dict[str, object] = {"vial": "A1", "noise": 0.0}
    return MtSicsSession(SimulatedBalance(world, **{**defaults, **kwargs}))  # type: ignore[arg-type]


@pytest.fixture
def world() -> World:
    world = World(seed=1)
    world.vial("A1").tare = 10.0
    return world


def test_reply_forms(world: World) -> None:
    session = make(world, serial_number="B99")
    assert ask(session, "I4") == 'I4 A "B99"'
    assert ask(session, "S") == "S S    10.0000 g"
    assert ask(session, "SI") == "S S    10.0000 g"
    assert ask(session, "Z") == "Z A"
    assert ask(session, "S") == "S S     0.0000 g"
    assert ask(session, "@") == 'I4 A "B99"'
    assert ask(session, "I1").startswith('I1 A "01"')
    assert ask(session, "I2").endswith('220.0000 g"')
    assert ask(session, "XYZ") == "ES"
    assert ask(session, "S 5") == "EL"
    assert ask(session, "S\x01") == "ET"
    assert ask(session, "") == "ES"


def test_the_pan_follows_the_world(world: World) -> None:
    session = make(world, settling_time=0.0)
    world.vial("A1").contents.add(Mixture({"EC": 1.23456}))
    assert ask(session, "S") == "S S    11.2346 g"  # rounded to the 0.1 mg readability
    session.balance.vial = None
    assert ask(session, "S") == "S S     0.0000 g"


def test_settling_makes_si_dynamic_and_s_waits(world: World) -> None:
    session = make(world, settling_time=1.0, sample_period=0.25)
    ask(session, "S")
    world.vial("A1").contents.add(Mixture({"EC": 2.0}))
    first = ask(session, "SI")
    assert first.startswith("S D")
    assert float(first.split()[2]) < 12.0
    assert ask(session, "S") == "S S    12.0000 g"  # the clock jumps to stability
    assert session.balance.now() == pytest.approx(1.0)


def test_tare_and_limits(world: World) -> None:
    session = make(world, capacity=15.0)
    assert ask(session, "T") == "T S    10.0000 g"
    assert ask(session, "S") == "S S     0.0000 g"
    world.vial("A1").contents.add(Mixture({"EC": 20.0}))
    assert ask(session, "S") == "S +"
    assert ask(session, "T") == "T +"
    session.balance.underload = True
    assert ask(session, "S") == "S -"
    assert ask(session, "Z") == "Z -"


def test_unstable_never_settles(world: World) -> None:
    session = make(world, stability_timeout=3.0)
    session.balance.unstable = True
    assert ask(session, "S") == "S I"
    assert ask(session, "Z") == "Z I"
    assert ask(session, "T") == "T I"
    assert ask(session, "SI").startswith("S D")
    assert session.balance.now() >= 9.0  # three waits of the balance's own time limit


def test_noise_is_seeded(world: World) -> None:
    def readings(seed: int) -> list[str]:
        session = make(world, noise=2e-4, rng=np.random.default_rng(seed))
        return [ask(session, "SI") for _ in range(5)]

    assert readings(3) == readings(3)
    assert readings(3) != readings(4)
    values = [float(reply.split()[2]) for reply in readings(3)]
    assert np.std(values) > 0
    assert all(abs(value - 10.0) < 2e-3 for value in values)


def test_twin_faults(world: World) -> None:
    twin = MtSicsTwin(SimulatedBalance(world, vial="A1"))
    session = twin.session()
    twin.inject("overload")
    assert ask(session, "S") == "S +"
    twin.inject(None)
    assert ask(session, "S").startswith("S S")
    twin.place(None)
    assert ask(session, "S") == "S S     0.0000 g"
    with pytest.raises(ValueError, match="no 'spill' fault"):
        twin.inject("spill")
    end = twin.begin_fault("unstable")
    assert ask(session, "S") == "S I"
    end()
    assert "unstable" in twin.chaos_faults()


def test_from_config(world: World) -> None:
    device = DeviceConfig.model_validate(
        {
            "kind": "balance",
            "driver": "mtsics",
            "twin": {"kind": "mtsics", "options": {"vial": "A1", "readability": 0.001}},
        }
    )
    assert device.twin is not None
    twin = MtSicsTwin.from_config("b", device, device.twin, seed=1, time_scale=0, world=world)
    assert ask(twin.session(), "S") == "S S     10.000 g"
    bad = device.twin.model_copy(update={"options": {"colour": "red"}})
    with pytest.raises(ConfigError, match="colour"):
        MtSicsTwin.from_config("b", device, bad, seed=1, time_scale=0, world=world)


@settings(max_examples=300, deadline=None, derandomize=True)
@given(st.binary(max_size=200))
def test_random_bytes_get_mt_sics_replies(data: bytes) -> None:
    session = make(World(seed=0))
    for reply in session.feed(data):
        assert reply.endswith(b"\r\n")
        assert reply[:-2].decode("ascii")
