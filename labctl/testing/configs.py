"""Lab configs for tests: the simulated lab, pointed at a temporary data directory."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

__all__ = ["sim_lab_document", "toy_campaign_config", "write_config"]

_PROJECT_CONFIGS = Path(__file__).resolve().parents[2] / "configs"


def sim_lab_document() -> dict[str, Any]:
    """The parsed ``configs/sim-lab.yaml`` of this checkout."""
    document = yaml.safe_load((_PROJECT_CONFIGS / "sim-lab.yaml").read_text(encoding="utf-8"))
    assert isinstance(document, dict)
    return document


def write_config(directory: Path, document: dict[str, Any], name: str = "lab.yaml") -> Path:
    """Write ``document`` as YAML into ``directory``, with its data kept in ``directory/data``."""
    document = dict(document)
    lab = dict(document.get("lab") or {})
    lab.setdefault("data_directory", "data")
    if lab.get("data_directory") == "../data/sim-lab":
        lab["data_directory"] = "data"
    document["lab"] = lab
    store = dict(document.get("store") or {})
    # Tests do not leave store servers behind unless they ask for one.
    store.setdefault("keep_server", "0 s")
    document["store"] = store
    path = directory / name
    path.write_text(yaml.safe_dump(document, sort_keys=False), encoding="utf-8")
    return path


def toy_campaign_config(
    directory: Path,
    *,
    name: str,
    budget: int,
    dwell: float = 0.0,
    optimizer: str = "toy-random",
    seed: int = 1,
) -> Path:
    """The simulated lab with a toy campaign (``toy-gaussian``: a motor and a detector).

    Its store is prepared empty in ``directory/data/tiled``; the toy kinds must be registered
    (:mod:`labctl.testing.toy_kinds`, the ``toy_kinds`` fixture, or ``labctl.testing.toy_cli``).

    Args:
        directory: where the config and its data go.
        name: the campaign's name.
        budget: experiments.
        dwell: seconds each experiment waits at its position.
        optimizer: ``toy-random`` or a real kind (``botorch-mo`` gets 2 initial experiments).
        seed: the optimizer's seed.
    """
    from labctl.testing.store import prepare_store

    prepare_store(directory / "data" / "tiled")
    document = sim_lab_document()
    document["campaign"] = {
        "name": name,
        "experiment": "toy-gaussian",
        "experiment_options": {"dwell": dwell},
        "space": {"position": {"low": -1, "high": 1}},
        "objectives": {"signal": {"direction": "maximize"}},
        "optimizer": {
            "kind": optimizer,
            "seed": seed,
            "options": {"initial_experiments": 2} if optimizer == "botorch-mo" else {},
        },
        "budget": {"experiments": budget},
    }
    return write_config(directory, document)
