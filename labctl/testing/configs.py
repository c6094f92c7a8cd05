"""Lab configs for tests: the simulated lab, pointed at a temporary data directory."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

__all__ = ["sim_lab_document", "write_config"]

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
