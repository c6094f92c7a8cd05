"""Every device of the simulated lab honours the bluesky protocols it claims."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from bluesky import protocols

from labctl.lab.session import Lab


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    from labctl.testing.configs import sim_lab_document, write_config

    folder: Path = tmp_path_factory.mktemp("protocols")
    with Lab.from_config(write_config(folder, sim_lab_document()), with_store=False) as built:
        yield built


def test_every_device_is_readable_with_matching_keys(lab: Lab) -> None:
    for name, device in lab.devices.items():
        if not isinstance(device, protocols.Readable):
            continue
        description = device.describe()
        reading = device.read()
        assert set(description) == set(reading), name
        for key, data_key in description.items():
            assert {"source", "dtype", "shape"} <= set(data_key), key
            assert "units" in data_key, f"{key} has no units"


def test_configurable_devices_describe_their_configuration(lab: Lab) -> None:
    for device in lab.devices.values():
        if isinstance(device, protocols.Configurable):
            assert set(device.describe_configuration()) == set(device.read_configuration())
