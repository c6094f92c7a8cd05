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
