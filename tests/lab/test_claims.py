"""Two labs must not share an instrument: an address claimed by one lab is refused to another."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import yaml

from labctl.lab.claims import AddressClaims, AddressInUseError
from labctl.lab.session import Lab
from labctl.testing.store import prepare_store


def _lab_config(directory: Path, name: str, address: str) -> Path:
    prepare_store(directory / "data" / "tiled")
    document = {
        "lab": {"name": name, "data_directory": "data"},
        "store": {"keep_server": "0 s"},
        "devices": {
            "glovebox": {
                "kind": "environment-sensor",
                "driver": "opcua",
                "address": address,
                "timeout": "2 s",
                "options": {"channels": {"o2": {"node": "ns=2;s=glovebox.o2", "units": "ppm"}}},
            }
        },
    }
    path = directory / f"{name}.yaml"
    path.write_text(yaml.safe_dump(document), encoding="utf-8")
    return path


def _open_lab_in_a_process(config: Path, hold: float = 0.0) -> subprocess.Popen[str]:
    code = (
        "import sys, time\n"
        "from labctl.lab.session import Lab\n"
        "from labctl.errors import LabctlError\n"
        "try:\n"
        f"    lab = Lab.from_config({str(config)!r})\n"
        "except LabctlError as error:\n"
        "    print(error); sys.exit(3)\n"
        "print('connected', flush=True)\n"
        f"time.sleep({hold})\n"
        "lab.close()\n"
    )
    return subprocess.Popen(
        [sys.executable, "-P", "-c", code],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def test_a_second_lab_on_the_same_instrument_is_refused_with_the_holder_named(
    tmp_path: Path, environment_twin: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LABCTL_CLAIMS", str(tmp_path / "claims"))
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    first = _lab_config(tmp_path / "a", "bench-a", environment_twin.address)
    second = _lab_config(tmp_path / "b", "bench-b", environment_twin.address)
    with Lab.from_config(first):
        refused = _open_lab_in_a_process(second)
        output, _ = refused.communicate(timeout=120)
        assert refused.returncode == 3, output
        assert f"glovebox: address {environment_twin.address} is in use by lab 'bench-a'" in output
        assert str(first) in output
        assert f"process {os.getpid()}" in output
    # Released on close: the second lab now connects.
    allowed = _open_lab_in_a_process(second)
    output, _ = allowed.communicate(timeout=120)
    assert allowed.returncode == 0, output


def test_a_crashed_lab_leaves_no_stale_claim(
    tmp_path: Path, environment_twin: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LABCTL_CLAIMS", str(tmp_path / "claims"))
    config = _lab_config(tmp_path, "crashy", environment_twin.address)
    holder = _open_lab_in_a_process(config, hold=120)
    assert holder.stdout is not None
    assert holder.stdout.readline().strip() == "connected"
    claims = AddressClaims("other", "other.yaml")
    with pytest.raises(AddressInUseError, match="lab 'crashy'"):
        claims.claim("glovebox", environment_twin.address)
    holder.send_signal(signal.SIGKILL)
    holder.wait(timeout=30)
    holder.stdout.close()
    deadline = time.monotonic() + 5
    while True:
        try:
            claims.claim("glovebox", environment_twin.address)
            break
        except AddressInUseError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)
    claims.release()


def test_devices_of_one_lab_may_share_a_bus(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LABCTL_CLAIMS", str(tmp_path))
    claims = AddressClaims("lab", "lab.yaml")
    claims.claim("pump_1", "socket://127.0.0.1:5000")
    claims.claim("pump_2", "socket://127.0.0.1:5000/")
    claims.release()
