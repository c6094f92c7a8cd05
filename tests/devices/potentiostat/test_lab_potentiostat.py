"""A potentiostat built by the Lab from config, measured through the RunEngine, read back."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
from bluesky import plan_stubs as bps
from bluesky import plans as bp

from labctl.devices.potentiostat.techniques import CA, CV
from labctl.lab.session import Lab
from labctl.testing.configs import write_config
from labctl.testing.store import prepare_store
from labctl.units import ureg

Q = ureg.Quantity
TWINS = {"scpi": "scpi-smu", "methodscript": "methodscript"}


def _lab_config(tmp_path: Path, driver: str) -> Path:
    prepare_store(tmp_path / "data" / "tiled")
    document = {
        "lab": {"name": "bench", "operator": "tests"},
        "simulation": {"time_scale": 0, "seed": 3},
        "devices": {
            "pstat": {
                "kind": "potentiostat",
                "driver": driver,
                "twin": {"kind": TWINS[driver]},
                "timeout": "1 s",
                "options": {"electrode_area": "0.196 cm**2"},
                "limits": {
                    "potential": {"low": "-3 V", "high": "5 V"},
                    "current_density": {"high": "50 mA/cm**2"},
                },
            }
        },
    }
    return write_config(tmp_path, document)


@pytest.mark.parametrize("driver", ["scpi", "methodscript"])
def test_a_configured_potentiostat_measures_and_its_curves_read_back(
    tmp_path: Path, driver: str
) -> None:
    with Lab.from_config(_lab_config(tmp_path, driver)) as lab:
        pstat = lab.devices["pstat"]

        def plan() -> Any:
            yield from bps.mv(
                pstat, CA(potential=Q(0.1, "V"), duration=Q(1, "s"), interval=Q(10, "ms"))
            )
            yield from bp.count([pstat])
            yield from bps.mv(
                pstat,
                CV(
                    start=Q(0, "V"),
                    vertex1=Q(0.5, "V"),
                    vertex2=Q(-0.5, "V"),
                    scan_rate=Q(0.5, "V/s"),
                    step=Q(5, "mV"),
                ),
            )
            yield from bp.count([pstat], num=2)

        ca_uid, cv_uid = lab.RE(plan())
        ca = lab.store.run(ca_uid).stream()
        cv = lab.store.run(cv_uid).stream()
    (current,) = ca["pstat_current"]
    assert current.shape == (100,)
    assert ca.attrs["units"]["pstat_current"] == "A"
    np.testing.assert_allclose(ca["pstat_time"].iloc[0], 0.01 * np.arange(1, 101), rtol=1e-6)
    assert len(cv) == 2
    assert cv["pstat_potential"].iloc[0].shape == (401,)
    assert cv["pstat_points"].tolist() == [401, 401]
