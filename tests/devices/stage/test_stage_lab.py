"""A stage built by the Lab from configs/examples/stage.yaml: twin, world contact, a move."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from bluesky import plan_stubs as bps

from labctl.lab.session import Lab
from labctl.simulators.grbl.stage_world import contact
from labctl.testing.configs import write_config
from labctl.testing.store import prepare_store

EXAMPLE = Path(__file__).resolve().parents[3] / "configs" / "examples" / "stage.yaml"


def test_the_example_stage_homes_moves_and_lands_in_the_shared_world(tmp_path: Path) -> None:
    prepare_store(tmp_path / "data" / "tiled")
    document = yaml.safe_load(EXAMPLE.read_text(encoding="utf-8"))
    document["lab"]["data_directory"] = "data"
    document["devices"]["stage"]["options"]["poll_interval"] = "10 ms"
    with Lab.from_config(write_config(tmp_path, document)) as lab:
        stage = lab.devices["stage"]

        def plan() -> Any:
            yield from bps.mv(stage.x, 40, stage.y, 30)
            yield from bps.mv(stage.z, 2.4)

        stage.home().wait(5)
        lab.RE(plan())
        assert stage.position == (40.0, 30.0, 2.4)
        assert contact(lab.world, "stage")
        lab.RE(bps.mv(stage.z, 10))
        assert not contact(lab.world, "stage")
