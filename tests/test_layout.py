"""The package layout: one import name, the layer folders reachable only through labctl."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
LAYERS = ("devices", "plans", "optimizers", "simulators")


@pytest.mark.parametrize("layer", LAYERS)
def test_layer_is_importable_only_through_labctl(layer: str) -> None:
    assert importlib.util.find_spec(layer) is None, f"'import {layer}' must fail"
    module = importlib.import_module(f"labctl.{layer}")
    assert Path(module.__file__ or "").resolve().parent == ROOT / layer


@pytest.mark.parametrize("layer", LAYERS)
def test_layer_links_are_committed_symlinks(layer: str) -> None:
    link = ROOT / "labctl" / layer
    assert link.is_symlink()
    assert link.readlink() == Path("..") / layer


def test_package_is_typed() -> None:
    assert (ROOT / "labctl" / "py.typed").is_file()


def test_import_labctl_stays_light() -> None:
    """``import labctl`` must not pull in the heavy stack (measured: see benchmarks/README.md)."""
    code = (
        "import sys, labctl\n"
        "heavy = [m for m in ('bluesky', 'ophyd', 'tiled', 'torch', 'botorch', 'asyncua', "
        "'pandas', 'pint') if m in sys.modules]\n"
        "print(','.join(heavy))"
    )
    result = subprocess.run(
        [sys.executable, "-P", "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert result.stdout.strip() == ""


def test_lab_is_exposed_lazily() -> None:
    import labctl
    from labctl.lab.session import Lab

    assert labctl.Lab is Lab
    with pytest.raises(AttributeError):
        _ = labctl.NoSuchThing  # type: ignore[attr-defined]


def _contracts() -> list[dict[str, object]]:
    import tomllib

    document = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    contracts: list[dict[str, object]] = document["tool"]["importlinter"]["contracts"]
    return contracts


def _rooms() -> set[str]:
    """Every module and package directly under labctl/ (the symlinked layers included)."""
    rooms = set()
    for path in (ROOT / "labctl").iterdir():
        if path.name.startswith(("_", ".")) or path.name == "py.typed":
            continue
        if path.is_dir() and (path / "__init__.py").exists():
            rooms.add(path.name)
        elif path.suffix == ".py":
            rooms.add(path.stem)
    return rooms


def test_every_room_of_labctl_sits_on_one_layer() -> None:
    (layered,) = [contract for contract in _contracts() if contract["type"] == "layers"]
    assert layered["containers"] == ["labctl"]
    assert layered.get("exhaustive") is True
    placed: list[str] = []
    for layer in layered["layers"]:  # type: ignore[attr-defined]
        placed.extend(name.strip() for name in str(layer).split("|"))
    assert len(placed) == len(set(placed)), "a room is on two layers"
    assert set(placed) == _rooms(), "a room of labctl/ is on no layer (or a layer names no room)"


def test_no_import_contract_ignores_an_import() -> None:
    for contract in _contracts():
        assert "ignore_imports" not in contract, contract["name"]


@pytest.mark.parametrize("package", ["labctl.plans", "labctl.devices", "labctl.simulators"])
def test_each_layer_lists_its_public_names_and_imports_them_lazily(package: str) -> None:
    code = (
        f"import sys, {package} as p\n"
        "heavy = [m for m in ('bluesky', 'ophyd', 'torch') if m in sys.modules]\n"
        "print(','.join(heavy))\n"
        "missing = [n for n in p.__all__ if getattr(p, n, None) is None]\n"
        "print(','.join(missing))\n"
    )
    result = subprocess.run(
        [sys.executable, "-P", "-c", code], capture_output=True, text=True, check=True, timeout=120
    )
    heavy, missing = result.stdout.splitlines()
    assert heavy == ""
    assert missing == ""


# Modules over 500 lines, each one job that needs the room (what the job is). A module not listed
# here that grows past 500 lines is asking to be split along its seams.
LONG_MODULES = {
    "labctl/store/catalog.py": "the Store: writes runs, lists and reads them",
    "labctl/operations/status_server/publisher.py": "the OPC UA status feed (to become the one "
    "status source of the lab)",
    "labctl/devices/dispensing/pump.py": "one Cavro pump device: valve, plunger, recovery",
    "labctl/devices/dispensing/recipe.py": "stocks, recipes and what a vial holds",
    "labctl/devices/dispensing/inventory.py": "the stock ledger and its crash-safe file",
    "labctl/devices/droplet/device.py": "one droplet cell: its moves and its safety watch",
    "labctl/optimizers/space.py": "the search space: columns, encodings, feasibility",
    "labctl/simulators/scpi_smu/instrument.py": "the simulated SMU's SCPI command set",
}


def test_no_module_outgrows_its_room_unless_its_one_job_needs_it() -> None:
    import os

    long = {}
    # os.walk follows the committed links, so devices/, plans/, … count as labctl/devices/, …
    files = [
        Path(folder) / name
        for folder, _, names in os.walk(ROOT / "labctl", followlinks=True)
        for name in names
        if name.endswith(".py")
    ]
    assert len(files) > 150
    for path in sorted(files):
        lines = len(path.read_text(encoding="utf-8").splitlines())
        name = path.relative_to(ROOT).as_posix()
        if lines > 500 and name not in LONG_MODULES:
            long[name] = lines
    assert not long, f"split these along their seams (or list the one job): {long}"
