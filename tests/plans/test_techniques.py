"""measure(): one technique per stream inside an experiment's run, limits checked first."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import bluesky.plan_stubs as bps
import bluesky.preprocessors as bpp
import numpy as np
import pytest

from labctl.config import DeviceConfig
from labctl.devices.potentiostat.device import Potentiostat
from labctl.devices.potentiostat.techniques import CA, LSV
from labctl.errors import SafetyLimitError
from labctl.lab.registry import build_device
from labctl.plans.techniques import measure
from labctl.simulators.scpi_smu.twin import ScpiSmuTwin
from labctl.units import ureg

Q = ureg.Quantity


@pytest.fixture
def potentiostat() -> Iterator[Potentiostat]:
    twin = ScpiSmuTwin(seed=2)
    twin.start()
    config = DeviceConfig.model_validate(
        {
            "kind": "potentiostat",
            "driver": "scpi",
            "address": "x",
            "timeout": "1 s",
            "limits": {"potential": {"low": "0 V", "high": "4.5 V"}},
        }
    )
    device = build_device("pstat", config, twin.address)
    device.connect()
    yield device
    device.close()
    twin.stop()


def test_each_technique_gets_its_own_stream_in_one_run(
    potentiostat: Potentiostat, run_engine: Any
) -> None:
    documents: list[tuple[str, dict[str, Any]]] = []
    run_engine.subscribe(lambda name, doc: documents.append((name, doc)))
    readings: list[dict[str, Any]] = []

    @bpp.run_decorator(md={"purpose": "two techniques"})
    def experiment() -> Any:
        readings.append(
            (
                yield from measure(
                    potentiostat, CA(potential=Q(1, "V"), duration=Q(1, "s"), interval=Q(0.1, "s"))
                )
            )
        )
        readings.append(
            (
                yield from measure(
                    potentiostat,
                    {
                        "kind": "lsv",
                        "start": "3 V",
                        "end": "4 V",
                        "scan_rate": "1 V/s",
                        "step": "10 mV",
                    },
                )
            )
        )

    run_engine(experiment())
    descriptors = [doc["name"] for name, doc in documents if name == "descriptor"]
    assert descriptors == ["ca", "lsv"]
    assert len(readings[0]["pstat_time"]["value"]) == 10
    assert len(readings[1]["pstat_potential"]["value"]) == 101
    np.testing.assert_allclose(readings[1]["pstat_potential"]["value"][[0, -1]], [3.0, 4.0])


def test_a_technique_beyond_the_limits_ends_the_run_failed_before_sending(
    potentiostat: Potentiostat, run_engine: Any
) -> None:
    stops: list[dict[str, Any]] = []
    run_engine.subscribe(lambda name, doc: stops.append(doc) if name == "stop" else None)

    @bpp.run_decorator()
    def experiment() -> Any:
        yield from measure(
            potentiostat, LSV(start=Q(3, "V"), end=Q(5, "V"), scan_rate=Q(1, "V/s"))
        )
        yield from bps.null()

    with pytest.raises(SafetyLimitError, match="end potential 5 V"):
        run_engine(experiment())
    assert stops[0]["exit_status"] == "fail"
    assert "safety limit" in stops[0]["reason"]
