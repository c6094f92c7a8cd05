"""The inventory across processes: it survives a new process; concurrent writers lose nothing."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

from labctl.devices.dispensing.inventory import Inventory
from labctl.devices.dispensing.recipe import Recipe, Stock
from labctl.devices.dispensing.recipe_solver import solve

STOCKS = [
    Stock(
        name="lipf6_ec", composition="2 mol/kg LiPF6 in EC", density="1.45 g/mL", volume="50 mL"
    ),
    Stock(name="dmc", composition="pure DMC", density="1.063 g/mL", volume="100 mL"),
]

# A child process rebuilds the stocks from their JSON form, as a lab rebuilds them from config.
CHILD = """
import json, os, pathlib, sys, time
from labctl.devices.dispensing.inventory import Inventory
from labctl.devices.dispensing.recipe import Stock
path, stocks, action = sys.argv[1], json.loads(sys.argv[2]), sys.argv[3]
inventory = Inventory(path, [Stock.model_validate(s) for s in stocks])
if action == "report":
    print(json.dumps({n: v.to("mL").magnitude for n, v in inventory.volumes().items()}))
elif action == "consume":
    go = pathlib.Path(sys.argv[6])
    (go.parent / f"ready-{os.getpid()}").touch()
    while not go.exists():  # start together, so the writers really overlap
        time.sleep(0.001)
    for _ in range(int(sys.argv[5])):
        inventory.consume("dmc", sys.argv[4])
"""


def child(path: Path, action: str, *args: str) -> subprocess.Popen[str]:
    stocks = json.dumps([stock.model_dump(mode="json") for stock in STOCKS])
    return subprocess.Popen(
        [sys.executable, "-P", "-c", CHILD, str(path), stocks, action, *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def finish(process: subprocess.Popen[str]) -> str:
    out, err = process.communicate(timeout=60)
    assert process.returncode == 0, err
    return out


def test_the_inventory_after_a_run_is_the_start_minus_what_was_dispensed(tmp_path: Path) -> None:
    path = tmp_path / "inventory.json"
    inventory = Inventory(path, STOCKS)
    recipe = Recipe(molality="1 mol/kg", solvents={"EC": 0.5, "DMC": 0.5}, amount="8 mL")
    plan = solve(recipe, inventory.stocks())
    with inventory.reserve(plan, overhead="0.05 mL") as reservation:
        for addition in plan.additions:
            inventory.discard(addition.stock, "0.05 mL", reservation=reservation)  # priming
            inventory.consume(addition.stock, addition.volume, reservation=reservation)
    del inventory

    reported = json.loads(finish(child(path, "report")))
    for stock in STOCKS:
        drawn = plan.volumes()[stock.name].to("mL").magnitude + 0.05
        expected = stock.volume.to("mL").magnitude - drawn
        assert reported[stock.name] == round(expected * 1e6) / 1e6
    assert json.loads(path.read_text())["reservations"] == {}


def test_two_processes_consuming_at_once_lose_nothing(tmp_path: Path) -> None:
    path = tmp_path / "inventory.json"
    Inventory(path, STOCKS)
    rounds = 150
    go = tmp_path / "go"
    workers = [child(path, "consume", "0.013 mL", str(rounds), str(go)) for _ in range(2)]
    deadline = time.monotonic() + 60
    while len(list(tmp_path.glob("ready-*"))) < 2 and time.monotonic() < deadline:
        time.sleep(0.005)
    go.touch()
    for worker in workers:
        finish(worker)
    inventory = Inventory(path, STOCKS)
    assert inventory.volume("dmc").to("mL").magnitude == (100_000_000 - 2 * rounds * 13_000) / 1e6
    assert inventory.accounts()["dmc"].dispensed.to("mL").magnitude == 2 * rounds * 13_000 / 1e6
