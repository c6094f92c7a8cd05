"""The Lab: twins started and stopped, devices connected, start documents, failures reported."""

from __future__ import annotations

import copy
import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from labctl import __version__
from labctl.errors import LabConnectError
from labctl.lab.session import Lab
from labctl.testing.configs import sim_lab_document, write_config


def test_count_is_read_back_by_a_new_process_with_values_and_units(
    sim_lab_config: Path,
) -> None:
    import bluesky.plans as bp

    with Lab.from_config(sim_lab_config) as lab:
        sensors = [lab.devices["glovebox"], lab.devices["room"]]
        (uid,) = lab.RE(bp.count(sensors, num=5))
        expected = lab.store.run(uid).stream()  # type: ignore[union-attr]
        store_directory = lab.config.store_directory
    script = (
        "import json, sys\n"
        "from labctl.store.catalog import Store\n"
        "with Store.embedded(sys.argv[1]) as store:\n"
        "    run = store.run(sys.argv[2])\n"
        "    frame = run.stream('primary')\n"
        "    print(json.dumps({'start': run.start, 'stop': run.stop,\n"
        "                      'values': {k: list(frame[k]) for k in frame.attrs['units']},\n"
        "                      'units': frame.attrs['units']}))\n"
    )
    result = subprocess.run(
        [sys.executable, "-P", "-c", script, str(store_directory), uid],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    read_back = json.loads(result.stdout)
    assert read_back["stop"]["exit_status"] == "success"
    assert read_back["units"]["glovebox_o2"] == "ppm"
    assert read_back["units"]["room_temperature"] == "K"
    for key in ("glovebox_o2", "glovebox_temperature", "room_humidity", "room_pressure"):
        assert read_back["values"][key] == pytest.approx(list(expected[key]), rel=0, abs=0)
    start = read_back["start"]
    assert start["lab"] == "sim-lab"
    assert start["operator"] == "labctl-ci"
    assert start["labctl_version"] == __version__
    assert len(start["config_hash"]) == 64


def test_twins_stop_when_the_lab_closes(sim_lab_config: Path) -> None:
    lab = Lab.from_config(sim_lab_config, with_store=False)
    twins = list(lab.twins.values())
    assert twins
    assert all(twin.running for twin in twins)
    lab.close()
    assert not any(twin.running for twin in twins)
    lab.close()  # idempotent


def test_scan_ids_continue_across_sessions(sim_lab_config: Path) -> None:
    import bluesky.plans as bp

    scan_ids = []
    for _ in range(2):
        with Lab.from_config(sim_lab_config) as lab:
            lab.RE(bp.count([lab.devices["room"]], num=1))
            scan_ids.append(lab.store.runs(limit=1)[0].scan_id)  # type: ignore[union-attr]
    assert scan_ids == [1, 2]


def test_every_connect_failure_is_reported_at_once(tmp_path: Path) -> None:
    document = copy.deepcopy(sim_lab_document())
    for name in ("glovebox", "room"):
        device = document["devices"][name]
        del device["twin"]
        device["address"] = "opc.tcp://127.0.0.1:9"
        device["timeout"] = "1 s"
    path = write_config(tmp_path, document)
    started = time.monotonic()
    with pytest.raises(LabConnectError) as caught:
        Lab.from_config(path)
    assert time.monotonic() - started < 10
    assert set(caught.value.failures) == {"glovebox", "room"}
    assert "2 devices failed to connect" in str(caught.value)
    assert "opc.tcp://127.0.0.1:9" in str(caught.value)


def test_a_twin_may_only_serve_on_loopback(tmp_path: Path) -> None:
    from labctl.errors import LabctlError

    document = copy.deepcopy(sim_lab_document())
    document["devices"]["room"]["address"] = "opc.tcp://192.0.2.1:4840"
    with pytest.raises(LabctlError, match="loopback"):
        Lab.from_config(write_config(tmp_path, document), with_store=False)


def test_sensors_and_repr(sim_lab_config: Path) -> None:
    with Lab.from_config(sim_lab_config, with_store=False) as lab:
        assert [device.name for device in lab.sensors()] == ["glovebox", "room"]
        assert "glovebox" in repr(lab)
        state: Any = lab.RE.state
        assert state == "idle"
