"""The shared world: liquid bookkeeping conserves mass; twins see the same objects."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from labctl.simulators.world import Mixture, Stock, World

SALT_STOCK = {"LiPF6": 0.2, "EC": 0.4, "DMC": 0.4}


def _world() -> World:
    world = World(seed=1)
    world.add_stocks(
        [
            Stock("salt", SALT_STOCK, density=1.3, volume=100.0),
            Stock("dmc", {"DMC": 1.0}, density=1.063, volume=50.0),
        ]
    )
    return world


def test_transfer_moves_mass_from_stock_to_vial() -> None:
    world = _world()
    arrived = world.transfer("salt", "A1", 2.0)
    assert arrived.total_mass == pytest.approx(2.6)
    assert world.stocks["salt"].volume == pytest.approx(98.0)
    assert world.vial("A1").contents.masses["LiPF6"] == pytest.approx(0.52)
    world.transfer("dmc", "A1", 1.0, error=-0.3)  # a clogged pump delivers 30 % less
    assert world.vial("A1").contents.masses["DMC"] == pytest.approx(1.04 + 0.7 * 1.063)
    assert world.stocks["dmc"].volume == pytest.approx(49.3)


def test_a_stock_cannot_give_more_than_it_holds() -> None:
    world = _world()
    with pytest.raises(ValueError, match="50 mL left"):
        world.transfer("dmc", "A1", 60.0)
    assert world.stocks["dmc"].volume == 50.0
    with pytest.raises(KeyError):
        world.transfer("water", "A1", 1.0)


def test_filling_a_cell_takes_a_well_mixed_portion() -> None:
    world = _world()
    world.transfer("salt", "A1", 4.0)
    world.transfer("dmc", "A1", 2.0)
    before = world.vial("A1").contents.mass_fractions()
    world.fill_cell("conductivity", "A1", 1.0)
    cell = world.cell("conductivity")
    assert cell.contents.total_mass == pytest.approx(1.0)
    for component, fraction in before.items():
        assert cell.contents.mass_fractions()[component] == pytest.approx(fraction)
        assert world.vial("A1").contents.mass_fractions()[component] == pytest.approx(fraction)


def test_streams_are_independent_and_reproducible() -> None:
    first = World(seed=5)
    second = World(seed=5)
    second.rng("other").normal(size=10)  # another twin drawing does not shift this stream
    assert first.rng("pump").normal() == second.rng("pump").normal()
    assert World(seed=6).rng("pump").normal() != World(seed=5).rng("pump").normal()


@given(
    st.lists(st.floats(min_value=0.0, max_value=5.0), min_size=1, max_size=10),
    st.floats(min_value=0.0, max_value=1.0),
)
def test_mass_is_conserved(volumes: list[float], share: float) -> None:
    world = _world()
    start = sum(stock.volume * stock.density for stock in world.stocks.values())
    for index, volume in enumerate(volumes):
        world.transfer("salt" if index % 2 else "dmc", "A1", volume)
    vial = world.vial("A1").contents
    world.fill_cell("cell", "A1", vial.total_mass * share)
    end = (
        sum(stock.volume * stock.density for stock in world.stocks.values())
        + world.vial("A1").contents.total_mass
        + world.cell("cell").contents.total_mass
    )
    assert end == pytest.approx(start, rel=1e-12)


def test_bad_inputs_are_refused() -> None:
    with pytest.raises(ValueError, match="sum to"):
        Stock("x", {"EC": 0.5}, density=1.0, volume=1.0)
    with pytest.raises(ValueError, match="≥ 0 g"):
        Mixture({"EC": -1.0})
    with pytest.raises(ValueError, match="cannot take"):
        Mixture({"EC": 1.0}).remove(2.0)
    with pytest.raises(ValueError, match="negative time"):
        World().advance(-1.0)
