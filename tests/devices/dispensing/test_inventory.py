"""Inventory arithmetic, refusals before anything moves, waste and rinse, low-stock warnings."""

from __future__ import annotations

import json
import logging
import subprocess
import sys
from pathlib import Path

import pytest

from labctl.devices.dispensing.inventory import Inventory
from labctl.devices.dispensing.recipe import InsufficientStock, Recipe, Stock
from labctl.devices.dispensing.recipe_solver import solve
from labctl.errors import InventoryError
from labctl.units import Quantity, ureg

STOCKS = [
    Stock(
        name="lipf6_ec",
        composition="2 mol/kg LiPF6 in EC",
        density="1.45 g/mL",
        volume="50 mL",
        low_stock="10 mL",
    ),
    Stock(name="dmc", composition="pure DMC", density="1.063 g/mL", volume="100 mL"),
]


@pytest.fixture
def inventory(tmp_path: Path) -> Inventory:
    return Inventory(tmp_path / "inventory.json", STOCKS, waste_capacity="20 mL")


def ml(quantity: Quantity) -> float:
    return float(quantity.to("mL").magnitude)


def test_a_new_inventory_starts_from_the_configured_volumes(inventory: Inventory) -> None:
    assert {name: ml(v) for name, v in inventory.volumes().items()} == {
        "lipf6_ec": 50.0,
        "dmc": 100.0,
    }
    assert inventory.path.exists()
    document = json.loads(inventory.path.read_text())
    assert document["stocks"]["dmc"]["volume"] == 100_000_000  # nanolitres


def test_the_files_volumes_win_and_new_stocks_are_added(inventory: Inventory) -> None:
    inventory.consume("dmc", "30 mL")
    extra = Stock(name="emc", composition="pure EMC", density="1.006 g/mL", volume="80 mL")
    reopened = Inventory(inventory.path, [*STOCKS, extra])
    assert ml(reopened.volume("dmc")) == 70.0
    assert ml(reopened.volume("emc")) == 80.0


def test_the_arithmetic_is_exact(inventory: Inventory) -> None:
    for _ in range(7):
        inventory.consume("dmc", "0.1 mL")
    inventory.consume("dmc", ureg.Quantity(250, "uL"))
    inventory.refill("dmc", "1.05 mL")
    inventory.discard("dmc", "0.02 mL")
    inventory.rinse("0.3 mL", stock="dmc")
    assert ml(inventory.volume("dmc")) == 100 - 0.7 - 0.25 + 1.05 - 0.02 - 0.3
    assert inventory.volume("dmc").to("mL").magnitude == 99.78
    account = inventory.accounts()["dmc"]
    assert ml(account.dispensed) == 0.95
    assert ml(account.discarded) == 0.02
    assert ml(account.rinsed) == 0.3
    assert ml(account.refilled) == 1.05
    assert ml(account.reserved) == 0.0


def test_a_plan_needing_more_than_is_left_is_refused_before_anything_changes(
    inventory: Inventory,
) -> None:
    inventory.consume("lipf6_ec", "45 mL")
    before = inventory.path.read_bytes()
    recipe = Recipe(molality="1 mol/kg", solvents={"EC": 0.5, "DMC": 0.5}, amount="30 g")
    roomy = [stock.model_copy(update={"volume": ureg.Quantity(1, "L")}) for stock in STOCKS]
    plan = solve(recipe, roomy)
    with pytest.raises(InsufficientStock, match="lipf6_ec") as caught:
        inventory.check(plan)
    needed, left = caught.value.shortages["lipf6_ec"]
    assert left == 5.0
    assert needed == pytest.approx(ml(plan.volumes()["lipf6_ec"]), abs=1e-6)
    assert "dmc" not in caught.value.shortages
    with pytest.raises(InsufficientStock):
        inventory.reserve(plan)
    assert inventory.path.read_bytes() == before


def test_solving_against_the_inventory_refuses_what_is_not_left(inventory: Inventory) -> None:
    inventory.consume("lipf6_ec", "45 mL")
    recipe = Recipe(molality="1 mol/kg", solvents={"EC": 0.5, "DMC": 0.5}, amount="30 g")
    with pytest.raises(InsufficientStock) as caught:
        solve(recipe, inventory.stocks())
    assert caught.value.shortages["lipf6_ec"][1] == 5.0


def test_an_overhead_per_stock_is_counted(inventory: Inventory) -> None:
    inventory.check({"dmc": "99 mL"})
    inventory.check({"dmc": "99 mL"}, overhead="1 mL")
    with pytest.raises(InsufficientStock):
        inventory.check({"dmc": "99 mL"}, overhead="1.001 mL")
    with pytest.raises(InsufficientStock):
        inventory.check({"dmc": "99 mL", "lipf6_ec": "1 mL"}, overhead={"dmc": "2 mL"})


def test_a_reservation_holds_volume_against_others_until_released(tmp_path: Path) -> None:
    first = Inventory(tmp_path / "inventory.json", STOCKS)
    second = Inventory(tmp_path / "inventory.json", STOCKS)  # another process, in effect
    with first.reserve({"dmc": "60 mL"}) as reservation:
        assert ml(second.available("dmc")) == 40.0
        assert ml(second.volume("dmc")) == 100.0
        with pytest.raises(InsufficientStock):
            second.check({"dmc": "50 mL"})
        first.check({"dmc": "60 mL"}, reservation=reservation)
        first.consume("dmc", "20 mL", reservation=reservation)
        assert ml(second.available("dmc")) == 40.0  # 80 left, 40 still reserved
        assert ml(second.accounts()["dmc"].reserved) == 40.0
        assert {s.name: ml(s.volume) for s in second.stocks()}["dmc"] == 40.0
    assert ml(second.available("dmc")) == 80.0
    reservation.release()  # idempotent


def test_a_reservation_of_a_process_that_ended_is_dropped(inventory: Inventory) -> None:
    finished = subprocess.run([sys.executable, "-c", "pass"], check=True)
    assert finished.returncode == 0
    reservation = inventory.reserve({"dmc": "60 mL"})
    document = json.loads(inventory.path.read_text())
    document["reservations"][reservation.token]["pid"] = 2**22 + 12345  # no such process
    inventory.path.write_text(json.dumps(document))
    assert ml(inventory.available("dmc")) == 100.0
    assert json.loads(inventory.path.read_text())["reservations"] == {}


def test_a_draw_is_booked_before_the_pump_moves_and_settled_when_it_ends(
    inventory: Inventory,
) -> None:
    with inventory.drawing("dmc", "2 mL") as messages:
        assert messages == []
        during = inventory.accounts()["dmc"]
        assert (ml(during.volume), ml(during.in_flight), ml(during.dispensed)) == (98.0, 2.0, 0.0)
    after = inventory.accounts()["dmc"]
    assert (ml(after.volume), ml(after.in_flight), ml(after.dispensed)) == (98.0, 0.0, 2.0)
    assert ml(inventory.waste()["total"]) == 0.0


def test_a_transfer_that_fails_books_its_draw_as_discarded(inventory: Inventory) -> None:
    with pytest.raises(RuntimeError), inventory.drawing("dmc", "1.5 mL"):
        raise RuntimeError("pump error")
    account = inventory.accounts()["dmc"]
    assert (ml(account.volume), ml(account.discarded), ml(account.dispensed)) == (98.5, 1.5, 0.0)
    assert ml(account.in_flight) == 0.0
    assert ml(inventory.waste()["total"]) == 1.5


def test_a_draw_of_a_process_killed_mid_transfer_is_booked_as_discarded(
    inventory: Inventory,
) -> None:
    """A kill -9 between the pump's draw and its end: the bottle is never claimed fuller."""
    script = (
        "import os, sys\n"
        "from labctl.devices.dispensing.inventory import Inventory\n"
        "from labctl.devices.dispensing.recipe import Stock\n"
        "stocks = [Stock(name='dmc', composition='pure DMC', density='1.063 g/mL',"
        " volume='100 mL')]\n"
        "inventory = Inventory(sys.argv[1], stocks)\n"
        "with inventory.drawing('dmc', '1.25 mL'):\n"
        "    os._exit(9)  # dies inside the transfer\n"
    )
    killed = subprocess.run([sys.executable, "-c", script, str(inventory.path)], timeout=60)
    assert killed.returncode == 9
    assert json.loads(inventory.path.read_text())["in_flight"]  # left behind by the dead one
    account = inventory.accounts()["dmc"]
    assert (ml(account.volume), ml(account.in_flight), ml(account.discarded)) == (98.75, 0, 1.25)
    assert json.loads(inventory.path.read_text())["in_flight"] == {}


def test_an_inventory_written_before_in_flight_draws_still_opens(tmp_path: Path) -> None:
    path = tmp_path / "inventory.json"
    Inventory(path, STOCKS)
    document = json.loads(path.read_text())
    del document["in_flight"]
    path.write_text(json.dumps(document))
    assert ml(Inventory(path, STOCKS).accounts()["dmc"].in_flight) == 0.0


def test_waste_and_rinse_volumes_are_accounted(inventory: Inventory) -> None:
    inventory.discard("lipf6_ec", "0.5 mL")
    inventory.rinse("2 mL", stock="dmc")
    inventory.rinse("3 mL")  # system liquid, not inventoried
    inventory.consume("dmc", "1 mL")  # into a vial, not waste
    waste = {key: ml(value) for key, value in inventory.waste().items()}
    assert waste == {"container": 5.5, "total": 5.5, "rinse": 5.0}
    assert ml(inventory.empty_waste()) == 5.5
    inventory.rinse("1 mL")
    waste = {key: ml(value) for key, value in inventory.waste().items()}
    assert waste == {"container": 1.0, "total": 6.5, "rinse": 6.0}
    assert ml(inventory.volume("dmc")) == 97.0
    assert ml(inventory.volume("lipf6_ec")) == 49.5


def test_low_stock_is_returned_and_logged_once(
    inventory: Inventory, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="labctl.devices.dispensing.inventory")
    assert inventory.consume("lipf6_ec", "39 mL") == []
    messages = inventory.consume("lipf6_ec", "2 mL")
    assert messages == ["stock lipf6_ec is low: 9 mL left, below its low-stock level of 10 mL"]
    assert len(inventory.consume("lipf6_ec", "1 mL")) == 1
    lows = [record for record in caplog.records if "is low" in record.getMessage()]
    assert len(lows) == 1  # logged when it crossed the level, returned every time
    assert inventory.low_stock() == [
        "stock lipf6_ec is low: 8 mL left, below its low-stock level of 10 mL"
    ]
    assert inventory.refill("lipf6_ec", "1 mL") != []
    assert inventory.refill("lipf6_ec", "40 mL") == []
    assert inventory.low_stock() == []


def test_a_nearly_full_waste_container_is_reported(inventory: Inventory) -> None:
    assert inventory.rinse("17.9 mL") == []
    messages = inventory.rinse("0.1 mL")
    assert messages == ["waste container 90% full (18 mL of 20 mL): empty it"]
    assert inventory.low_stock() == messages
    inventory.empty_waste()
    assert inventory.low_stock() == []


def test_an_overdraw_is_recorded_as_empty_with_a_message(inventory: Inventory) -> None:
    messages = inventory.consume("dmc", "101 mL")
    assert "set to empty" in messages[0]
    assert ml(inventory.volume("dmc")) == 0.0
    inventory.set_volume("dmc", "75 mL")
    assert ml(inventory.volume("dmc")) == 75.0
    assert ml(inventory.accounts()["dmc"].refilled) == 75.0


@pytest.mark.parametrize(
    ("call", "words"),
    [
        (lambda inv: inv.consume("lp40", "1 mL"), "unknown stock 'lp40'"),
        (lambda inv: inv.consume("dmc", "-1 mL"), "≥ 0"),
        (lambda inv: inv.consume("dmc", "1 g"), "volume"),
        (lambda inv: inv.consume("dmc", 1.0), "units"),
        (lambda inv: inv.refill("dmc", "nan mL"), "finite"),
        (lambda inv: inv.check({"lp40": "1 mL"}), "unknown stock"),
    ],
)
def test_bad_requests_are_refused(inventory: Inventory, call: object, words: str) -> None:
    before = inventory.path.read_bytes()
    with pytest.raises(InventoryError, match=words):
        call(inventory)  # type: ignore[operator]
    assert inventory.path.read_bytes() == before


@pytest.mark.parametrize(
    "text", ["not json", "[]", '{"format": 2, "unit": "nL"}', '{"format": 1, "unit": "mL"}']
)
def test_a_file_that_is_not_an_inventory_is_refused(tmp_path: Path, text: str) -> None:
    path = tmp_path / "inventory.json"
    path.write_text(text)
    with pytest.raises(InventoryError, match="not a labctl inventory"):
        Inventory(path, STOCKS)
    assert path.read_text() == text


def test_writes_leave_no_temporary_files(inventory: Inventory) -> None:
    for _ in range(5):
        inventory.consume("dmc", "1 mL")
    names = sorted(p.name for p in inventory.path.parent.iterdir())
    assert names == ["inventory.json", "inventory.json.lock"]
