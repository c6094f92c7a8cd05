"""The mixing vials' states survive a crash mid-write: the file is replaced, never truncated.

A ``kill -9`` or a full disk between truncating and writing ``<inventory>.vials.json`` left an
empty file, and every later preparation of a resumed campaign failed reading it. The states are
now written to a temporary file and renamed over the old one.
"""

from __future__ import annotations

import errno
import json
import os
from pathlib import Path

import pytest

from labctl.devices.dispensing.robot import DispensingRobot, DispensingRobotOptions


def _robot(tmp_path: Path) -> DispensingRobot:
    options = DispensingRobotOptions.model_validate(
        {
            "pumps": {"dmc": "pump_dmc"},
            "balance": "balance",
            "stocks": [
                {
                    "name": "dmc",
                    "composition": "pure DMC",
                    "density": "1.07 g/mL",
                    "volume": "250 mL",
                }
            ],
            "inventory": str(tmp_path / "inventory.json"),
            "vials": ["MIX", "A1"],
        }
    )
    return DispensingRobot(options=options, name="robot")


def test_vial_states_are_persisted_for_the_next_process(tmp_path: Path) -> None:
    _robot(tmp_path)._mark("MIX", "used")
    assert _robot(tmp_path).vial_states() == {"MIX": "used", "A1": "fresh"}
    assert json.loads((tmp_path / "inventory.vials.json").read_text()) == {
        "A1": "fresh",
        "MIX": "used",
    }


def test_a_write_that_fails_midway_leaves_the_previous_states_whole(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    robot = _robot(tmp_path)
    robot._mark("MIX", "used")

    def disk_full(descriptor: int) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "fsync", disk_full)
    with pytest.raises(OSError, match="No space left"):
        robot.mark_rinsed("MIX")
    monkeypatch.undo()
    assert _robot(tmp_path).vial_states() == {"MIX": "used", "A1": "fresh"}
    assert [path.name for path in tmp_path.iterdir()] == ["inventory.vials.json"]
