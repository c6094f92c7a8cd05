"""Pump and balance twins over one world: a clog is caught by weighing; a Lab builds both."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from bluesky import plans as bp

from labctl.config import DeviceConfig
from labctl.devices.dispensing.balance import Balance
from labctl.devices.dispensing.pump import SyringePump
from labctl.lab.registry import build_device
from labctl.lab.session import Lab
from labctl.simulators.cavro.twin import CavroTwin
from labctl.simulators.mtsics.twin import MtSicsTwin
from labctl.simulators.world import Stock, World
from labctl.testing.configs import write_config
from labctl.testing.store import prepare_store

DENSITY = 1.25  # g/mL of the stock
STOCK = {"name": "lipf6_ecdmc", "mass_fractions": {"LiPF6": 0.12, "EC": 0.44, "DMC": 0.44}}

PUMP: dict[str, Any] = {
    "kind": "syringe-pump",
    "driver": "cavro",
    "timeout": "0.5 s",
    "twin": {
        "kind": "cavro",
        "options": {"stocks": {1: "lipf6_ecdmc"}, "vials": {2: "A1"}, "dosing_error": 0.002},
    },
    "options": {"syringe_volume": "1 mL", "ports": 6, "poll_interval": "1 ms"},
    "limits": {"volume": {"high": "1 mL"}},
}
BALANCE: dict[str, Any] = {
    "kind": "balance",
    "driver": "mtsics",
    "timeout": "0.5 s",
    "twin": {"kind": "mtsics", "options": {"vial": "A1", "noise": 5e-5, "settling_time": 2}},
}


@pytest.fixture
def bench() -> Iterator[tuple[World, CavroTwin, SyringePump, MtSicsTwin, Balance]]:
    world = World(seed=11)
    world.add_stocks([Stock(**STOCK, density=DENSITY, volume=30.0)])  # type: ignore[arg-type]
    pump_config = DeviceConfig.model_validate(PUMP)
    balance_config = DeviceConfig.model_validate(BALANCE)
    assert pump_config.twin is not None
    assert balance_config.twin is not None
    pump_twin = CavroTwin.from_config(
        "pump", pump_config, pump_config.twin, seed=5, time_scale=0, world=world
    )
    balance_twin = MtSicsTwin.from_config(
        "balance", balance_config, balance_config.twin, seed=6, time_scale=0, world=world
    )
    pump = build_device("pump", pump_config, pump_twin.start())
    balance = build_device("balance", balance_config, balance_twin.start())
    try:
        pump.connect()
        balance.connect()
        yield world, pump_twin, pump, balance_twin, balance
    finally:
        pump.close()
        balance.close()
        pump_twin.stop()
        balance_twin.stop()


def dispensed_mass(pump: SyringePump, balance: Balance, volume: str) -> float:
    """Weigh, dispense ``volume`` from the stock into the vial, weigh again; g."""
    before = balance.weigh().to("g").magnitude
    pump.aspirate(volume, 1).wait(5)
    pump.dispense(volume, 2).wait(5)
    return float(balance.weigh().to("g").magnitude - before)


def test_a_clog_is_caught_by_the_gravimetric_check(
    bench: tuple[World, CavroTwin, SyringePump, MtSicsTwin, Balance],
) -> None:
    world, pump_twin, pump, _, balance = bench
    expected = 0.8 * DENSITY
    healthy = dispensed_mass(pump, balance, "0.8 mL")
    assert healthy == pytest.approx(expected, rel=0.01)  # dosing error 0.2 %, noise 50 µg
    pump_twin.inject("clog")
    clogged = dispensed_mass(pump, balance, "0.8 mL")
    assert clogged / expected == pytest.approx(0.70, abs=0.01)
    assert clogged < 0.9 * expected  # what a 10 % gravimetric tolerance flags
    pump_twin.inject(None)
    recovered = dispensed_mass(pump, balance, "0.8 mL")
    assert recovered == pytest.approx(expected, rel=0.01)
    # The balance weighed what the world holds: the vial gained exactly what was measured.
    held = world.vial("A1").contents.total_mass
    assert held == pytest.approx(healthy + clogged + recovered, abs=5e-4)
    assert pump_twin.pump.lost_volume == pytest.approx(0.3 * 0.8, rel=0.01)


def test_a_lab_builds_pump_and_balance_from_config(tmp_path: Path) -> None:
    prepare_store(tmp_path / "data" / "tiled")
    pump = {**PUMP}
    pump["twin"] = {
        "kind": "cavro",
        "options": {
            **PUMP["twin"]["options"],
            "define_stocks": [{**STOCK, "density": DENSITY, "volume": 30.0}],
        },
    }
    document = {
        "lab": {"name": "dispensing", "operator": "tests"},
        "simulation": {"time_scale": 0, "seed": 3},
        "devices": {"pump": pump, "balance": BALANCE},
    }
    with Lab.from_config(write_config(tmp_path, document)) as lab:
        syringe, balance = lab.devices["pump"], lab.devices["balance"]
        syringe.aspirate("0.4 mL", 1).wait(5)
        syringe.dispense("0.4 mL", 2).wait(5)
        (uid,) = lab.RE(bp.count([balance, syringe]))
        stream = lab.store.run(uid).stream()
        assert lab.world.stocks["lipf6_ecdmc"].volume == pytest.approx(29.6, abs=0.01)
    gross = 12.0 + 0.4 * DENSITY  # the vial's default tare + the liquid
    assert stream["balance_mass"].iloc[0] == pytest.approx(gross / 1000, rel=1e-3)
    assert stream.attrs["units"]["balance_mass"] == "kg"
    assert stream["pump_volume"].iloc[0] == pytest.approx(0.0)
