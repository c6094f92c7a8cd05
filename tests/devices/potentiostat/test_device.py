"""The Potentiostat device, the same suite through each driver against its twin on loopback."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import pytest
from bluesky import plan_stubs as bps
from bluesky import plans as bp
from bluesky.utils import RunEngineInterrupted
from ophyd.utils import WaitTimeoutError

from labctl.config import DeviceConfig
from labctl.devices.potentiostat.device import Potentiostat, TechniqueStopped
from labctl.devices.potentiostat.errors import TechniqueNotSupportedError
from labctl.devices.potentiostat.techniques import (
    CA,
    CP,
    CV,
    EIS,
    LSV,
    OCV,
    PlateStrip,
    PulseTrain,
)
from labctl.errors import CommunicationError, ConfigError, SafetyLimitError
from labctl.lab.registry import build_device
from labctl.units import ureg

TIMEOUT = 0.5
Q = ureg.Quantity


@dataclass
class Rig:
    """One driver's twin and the device talking to it."""

    driver: str
    twin: Any
    device: Potentiostat

    @property
    def bytes_received(self) -> int:
        return int(self.twin.server.bytes_received)


def _twin(driver: str) -> Any:
    if driver == "scpi":
        from labctl.simulators.scpi_smu.twin import ScpiSmuTwin

        return ScpiSmuTwin(seed=7)
    from labctl.simulators.methodscript.twin import MethodScriptTwin

    return MethodScriptTwin(seed=7)


def _config(driver: str, **limits: Any) -> DeviceConfig:
    return DeviceConfig.model_validate(
        {
            "kind": "potentiostat",
            "driver": driver,
            "address": "placeholder",
            "timeout": f"{TIMEOUT} s",
            "options": {"electrode_area": "0.5 cm**2"},
            "limits": limits
            or {
                "potential": {"low": "-2 V", "high": "5 V"},
                "current": {"high": "20 mA"},
                "current_density": {"high": "30 mA/cm**2"},
                "compliance_voltage": {"high": "10 V"},
                "duration": {"high": "2 h"},
            },
        }
    )


@pytest.fixture(params=["scpi", "methodscript"])
def rig(request: pytest.FixtureRequest) -> Iterator[Rig]:
    twin = _twin(request.param)
    twin.start()
    device = build_device("pstat", _config(request.param), twin.address)
    device.connect()
    yield Rig(request.param, twin, device)
    device.close()
    twin.stop()


def _measure(run_engine: Any, device: Potentiostat, technique: Any) -> dict[str, Any]:
    documents: list[tuple[str, dict[str, Any]]] = []
    run_engine.subscribe(lambda name, doc: documents.append((name, doc)))

    def plan() -> Any:
        yield from bps.mv(device, technique)
        yield from bp.count([device])

    run_engine(plan())
    descriptor = next(doc for name, doc in documents if name == "descriptor")
    event = next(doc for name, doc in documents if name == "event")
    stop = next(doc for name, doc in documents if name == "stop")
    assert stop["exit_status"] == "success", stop.get("reason")
    return {"keys": descriptor["data_keys"], "data": event["data"], "config": descriptor}


TIME_DOMAIN = [
    OCV(duration=Q(1, "s"), interval=Q(0.1, "s")),
    CA(potential=Q(0.2, "V"), duration=Q(1, "s"), interval=Q(0.05, "s")),
    CP(current=Q(-1, "mA"), duration=Q(2, "s"), interval=Q(0.1, "s")),
    LSV(start=Q(3.0, "V"), end=Q(4.5, "V"), scan_rate=Q(10, "mV/s"), step=Q(10, "mV")),
    CV(
        start=Q(0.0, "V"),
        vertex1=Q(0.5, "V"),
        vertex2=Q(-0.5, "V"),
        scan_rate=Q(100, "mV/s"),
        step=Q(5, "mV"),
    ),
    PulseTrain(
        on_current=Q(-5, "mA"),
        on_time=Q(0.1, "s"),
        off_time=Q(0.3, "s"),
        cycles=5,
        interval=Q(0.05, "s"),
    ),
]


@pytest.mark.parametrize("technique", TIME_DOMAIN, ids=lambda t: t.kind)
def test_every_time_domain_technique_reads_as_arrays_with_units(
    rig: Rig, run_engine: Any, technique: Any
) -> None:
    result = _measure(run_engine, rig.device, technique)
    keys, data = result["keys"], result["data"]
    for name, units in (("time", "s"), ("potential", "V"), ("current", "A")):
        key = keys[f"pstat_{name}"]
        values = np.asarray(data[f"pstat_{name}"])
        assert key["units"] == units
        assert key["dtype"] == "array"
        assert key["dtype_numpy"] == "<f8"
        assert key["shape"] == [len(values)]
        assert len(values) > 1
        assert np.all(np.isfinite(values))
    assert np.all(np.diff(data["pstat_time"]) > 0)
    assert keys["pstat_frequency"]["shape"] == [0]
    assert data["pstat_points"] == len(data["pstat_time"])
    assert data["pstat_completed"] == 1
    assert keys["pstat_charge"]["units"] == "C"
    configuration = result["config"]["configuration"]["pstat"]["data"]
    assert configuration["pstat_technique"] == technique.kind


def test_time_series_follow_the_technique(rig: Rig, run_engine: Any) -> None:
    technique = CP(current=Q(-1, "mA"), duration=Q(2, "s"), interval=Q(0.1, "s"))
    data = _measure(run_engine, rig.device, technique)["data"]
    np.testing.assert_allclose(data["pstat_time"], 0.1 * np.arange(1, 21), rtol=1e-6)
    np.testing.assert_allclose(data["pstat_current"], -1e-3, rtol=1e-3)
    assert data["pstat_charge"] == pytest.approx(-1e-3 * 1.9, rel=1e-3)


def test_pulse_train_samples_on_and_off_currents(rig: Rig, run_engine: Any) -> None:
    technique = PulseTrain(
        on_current=Q(-5, "mA"),
        on_time=Q(0.1, "s"),
        off_current=Q(1, "mA"),
        off_time=Q(0.1, "s"),
        cycles=3,
        interval=Q(0.05, "s"),
    )
    data = _measure(run_engine, rig.device, technique)["data"]
    current = np.asarray(data["pstat_current"])
    assert len(current) == 12
    np.testing.assert_allclose(current, np.tile([-5e-3, -5e-3, 1e-3, 1e-3], 3), rtol=1e-3)


def test_eis_on_each_driver(rig: Rig, run_engine: Any) -> None:
    technique = EIS(
        dc_potential=Q(0, "V"),
        max_frequency=Q(10, "kHz"),
        min_frequency=Q(1, "Hz"),
        points_per_decade=5,
    )
    if rig.driver == "scpi":
        with pytest.raises(TechniqueNotSupportedError, match="cannot do impedance spectroscopy"):
            rig.device.set(technique)
        return
    data = _measure(run_engine, rig.device, technique)["data"]
    frequency = np.asarray(data["pstat_frequency"])
    assert len(frequency) == 21
    assert frequency[0] == pytest.approx(1e4, rel=1e-3)
    assert np.all(np.asarray(data["pstat_z_real"]) > 0)
    assert len(data["pstat_time"]) == 0


@pytest.mark.parametrize(
    ("technique", "quantity"),
    [
        (CA(potential=Q(6, "V"), duration=Q(1, "s"), interval=Q(0.1, "s")), "potential"),
        (CP(current=Q(-25, "mA"), duration=Q(1, "s"), interval=Q(0.1, "s")), "current"),
        (CP(current=Q(-18, "mA"), duration=Q(1, "s"), interval=Q(0.1, "s")), "current density"),
        (
            CP(
                current=Q(-1, "mA"),
                duration=Q(1, "s"),
                interval=Q(0.1, "s"),
                compliance_voltage=Q(15, "V"),
            ),
            "compliance voltage",
        ),
        (OCV(duration=Q(3, "h"), interval=Q(1, "s")), "duration"),
        (
            LSV(start=Q(3, "V"), end=Q(5.5, "V"), scan_rate=Q(1, "mV/s"), step=Q(1, "mV")),
            "end potential",
        ),
    ],
    ids=["potential", "current", "density", "compliance", "duration", "lsv-end"],
)
def test_a_technique_outside_the_limits_is_refused_before_anything_is_sent(
    rig: Rig, technique: Any, quantity: str
) -> None:
    sent = rig.bytes_received
    with pytest.raises(SafetyLimitError, match=quantity) as caught:
        rig.device.set(technique)
    assert "pstat" in str(caught.value)
    assert "nothing was sent" in str(caught.value)
    assert rig.bytes_received == sent
    assert rig.device.current_technique is None


def test_a_refused_technique_ends_the_run_failed_with_the_reason(
    rig: Rig, run_engine: Any
) -> None:
    stops: list[dict[str, Any]] = []
    run_engine.subscribe(lambda name, doc: stops.append(doc) if name == "stop" else None)

    def plan() -> Any:
        yield from bps.open_run()
        yield from bps.mv(
            rig.device, CA(potential=Q(9, "V"), duration=Q(1, "s"), interval=Q(0.1, "s"))
        )
        yield from bps.close_run()

    with pytest.raises(SafetyLimitError):
        run_engine(plan())
    assert stops[-1]["exit_status"] == "fail"
    assert "safety limit" in stops[-1]["reason"]


def test_an_invalid_technique_mapping_names_the_field(rig: Rig) -> None:
    with pytest.raises(ConfigError, match="interval"):
        rig.device.set({"kind": "ca", "potential": "0.1 V", "duration": "1 s"})


def test_trigger_without_a_technique_fails_clearly(rig: Rig) -> None:
    status = rig.device.trigger()
    with pytest.raises(Exception, match="no technique set"):
        status.wait(1)


@pytest.mark.parametrize("fault", ["drop", "silence", "garbage", "instrument_error"])
def test_each_fault_fails_the_run_in_time_and_the_device_recovers(
    rig: Rig, run_engine: Any, fault: str
) -> None:
    technique = CP(current=Q(-1, "mA"), duration=Q(1, "s"), interval=Q(0.01, "s"))
    rig.device.set(technique)
    stops: list[dict[str, Any]] = []
    run_engine.subscribe(lambda name, doc: stops.append(doc) if name == "stop" else None)
    rig.twin.inject(fault)
    started = time.monotonic()
    with pytest.raises(Exception, match=r"pstat|stopped|Failed") as caught:
        run_engine(bp.count([rig.device]))
    elapsed = time.monotonic() - started
    assert elapsed < 4 * TIMEOUT + 1.5, f"{fault}: took {elapsed:.2f} s"
    assert stops[-1]["exit_status"] == "fail"
    assert stops[-1]["reason"]
    chain = [caught.value, caught.value.__cause__, caught.value.__context__]
    assert any(isinstance(error, CommunicationError) for error in chain) or "pstat" in str(
        caught.value
    ), repr(caught.value)
    rig.twin.inject(None)
    rig.device.close()
    rig.device.connect()
    data = _measure(run_engine, rig.device, technique)["data"]
    assert len(data["pstat_time"]) == 100


def test_stop_ends_the_technique_at_open_circuit(rig: Rig) -> None:
    rig.twin.time_scale = 1.0
    rig.device.set(CP(current=Q(-1, "mA"), duration=Q(30, "s"), interval=Q(0.1, "s")))
    status = rig.device.trigger()
    time.sleep(0.3)
    rig.device.stop()
    with pytest.raises(TechniqueStopped, match="open circuit"):
        status.wait(5)
    assert rig.twin.output_on is False


def test_status_is_not_done_while_the_instrument_runs(rig: Rig) -> None:
    rig.twin.time_scale = 1.0
    rig.device.set(CP(current=Q(-1, "mA"), duration=Q(0.6, "s"), interval=Q(0.1, "s")))
    status = rig.device.trigger()
    with pytest.raises(WaitTimeoutError):
        status.wait(0.2)
    status.wait(5)
    assert len(rig.device.time.get()) == 6


def test_plate_strip_stops_at_the_cutoff(rig: Rig, run_engine: Any) -> None:
    technique = PlateStrip(
        plate_current=Q(-2, "mA"),
        plate_charge=Q(2, "mC"),
        strip_current=Q(2, "mA"),
        cutoff_potential=Q(1.0, "V"),
        rest_time=Q(0.2, "s"),
        interval=Q(0.01, "s"),
    )
    data = _measure(run_engine, rig.device, technique)["data"]
    current = np.asarray(data["pstat_current"])
    potential = np.asarray(data["pstat_potential"])
    assert potential[-1] >= 1.0
    assert np.all(potential[:-1][current[:-1] > 0] < 1.0)
    stripped = np.sum(current[current > 0]) * 0.01
    assert 0.5e-3 < stripped < 2.2e-3


def test_concurrent_stop_from_another_thread_never_hangs(rig: Rig) -> None:
    rig.twin.time_scale = 1.0
    rig.device.set(OCV(duration=Q(20, "s"), interval=Q(0.1, "s")))
    status = rig.device.trigger()
    stopper = threading.Timer(0.2, rig.device.stop)
    stopper.start()
    with pytest.raises(TechniqueStopped):
        status.wait(5)
    stopper.join()


def test_a_drop_mid_measurement_fails_the_run_and_the_next_connect_recovers(
    rig: Rig, run_engine: Any
) -> None:
    rig.twin.time_scale = 1.0
    technique = CP(current=Q(-1, "mA"), duration=Q(2, "s"), interval=Q(0.05, "s"))
    rig.device.set(technique)
    stops: list[dict[str, Any]] = []
    run_engine.subscribe(lambda name, doc: stops.append(doc) if name == "stop" else None)
    dropper = threading.Timer(0.4, rig.twin.inject, args=("drop",))
    dropper.start()
    started = time.monotonic()
    with pytest.raises(Exception, match="pstat"):
        run_engine(bp.count([rig.device]))
    dropper.join()
    assert time.monotonic() - started < 2 + 4 * TIMEOUT
    assert stops[-1]["exit_status"] == "fail"
    assert "pstat" in stops[-1]["reason"]
    rig.twin.inject(None)
    rig.twin.time_scale = 0.0
    rig.device.close()
    rig.device.connect()
    data = _measure(run_engine, rig.device, technique)["data"]
    assert len(data["pstat_time"]) == 40


def test_a_runengine_pause_leaves_the_cell_at_open_circuit_and_resume_reruns(
    rig: Rig, run_engine: Any
) -> None:
    rig.twin.time_scale = 1.0
    technique = CP(current=Q(-1, "mA"), duration=Q(1, "s"), interval=Q(0.1, "s"))
    documents: list[tuple[str, dict[str, Any]]] = []
    run_engine.subscribe(lambda name, doc: documents.append((name, doc)))

    def plan() -> Any:
        yield from bps.mv(rig.device, technique)
        yield from bp.count([rig.device])

    pauser = threading.Timer(0.3, run_engine.request_pause, kwargs={"defer": False})
    pauser.start()
    with pytest.raises(RunEngineInterrupted):
        run_engine(plan())
    pauser.join()
    assert run_engine.state == "paused"
    deadline = time.monotonic() + 2
    while rig.twin.output_on and time.monotonic() < deadline:
        time.sleep(0.02)
    assert rig.twin.output_on is False
    run_engine.resume()
    events = [doc for name, doc in documents if name == "event"]
    assert len(events) == 1
    assert len(events[0]["data"]["pstat_time"]) == 10
    assert events[0]["data"]["pstat_completed"] == 1
    assert documents[-1][1]["exit_status"] == "success"


def test_without_rewind_a_paused_technique_is_recorded_as_not_completed(
    rig: Rig, run_engine: Any
) -> None:
    run_engine.rewindable = False
    rig.twin.time_scale = 1.0
    technique = CP(current=Q(-1, "mA"), duration=Q(1, "s"), interval=Q(0.1, "s"))
    events: list[dict[str, Any]] = []
    run_engine.subscribe(lambda name, doc: events.append(doc) if name == "event" else None)

    def plan() -> Any:
        yield from bps.mv(rig.device, technique)
        yield from bp.count([rig.device])

    pauser = threading.Timer(0.3, run_engine.request_pause, kwargs={"defer": False})
    pauser.start()
    with pytest.raises(RunEngineInterrupted):
        run_engine(plan())
    pauser.join()
    assert rig.twin.output_on is False
    run_engine.resume()
    (event,) = events
    assert event["data"]["pstat_completed"] == 0
    assert len(event["data"]["pstat_time"]) < 10


def _shorting_rig(
    driver: str, interlocks: dict[str, Any] | None = None
) -> tuple[Any, Potentiostat]:
    """A twin whose Li cell shorts through a dendrite after ≈ 10 s at −0.2 mA (a 20 nm gap)."""
    from labctl.simulators.electrochem import CellState

    cell = CellState(noise=0.0, electrode_gap=2e-8)
    if driver == "scpi":
        from labctl.simulators.electrochem import respond
        from labctl.simulators.scpi_smu.cell import ResponseCell
        from labctl.simulators.scpi_smu.twin import ScpiSmuTwin

        twin: Any = ScpiSmuTwin(ResponseCell(respond, lambda: cell), seed=1)
    else:
        from labctl.simulators.methodscript.twin import MethodScriptTwin

        twin = MethodScriptTwin(None, lambda: cell, seed=1)
    twin.start()
    config = _config(driver).model_copy(
        update={"options": {"electrode_area": "0.5 cm**2", "interlocks": interlocks or {}}}
    )
    device = build_device("pstat", config, twin.address)
    device.connect()
    return twin, device


@pytest.mark.parametrize("driver", ["scpi", "methodscript"])
def test_a_short_circuit_trips_the_interlock_and_fails_the_run(
    driver: str, run_engine: Any
) -> None:
    from labctl.devices.potentiostat.interlocks import InterlockTripped

    twin, device = _shorting_rig(driver)
    stops: list[dict[str, Any]] = []
    run_engine.subscribe(lambda name, doc: stops.append(doc) if name == "stop" else None)
    try:
        device.set(CP(current=Q(-0.2, "mA"), duration=Q(20, "s"), interval=Q(0.1, "s")))
        with pytest.raises(Exception, match="pstat") as caught:
            run_engine(bp.count([device]))
        assert isinstance(caught.value.__cause__, InterlockTripped)
        assert "short circuit at t = 1" in str(caught.value.__cause__)
        assert stops[-1]["exit_status"] == "fail"
        assert "short circuit" in stops[-1]["reason"]
        assert "short circuit" in device.interlock.get()
        assert twin.output_on is False
    finally:
        device.close()
        twin.stop()


def test_an_interlock_set_to_record_keeps_the_run_going() -> None:
    twin, device = _shorting_rig("methodscript", {"short_circuit": {"action": "record"}})
    try:
        device.set(CP(current=Q(-0.2, "mA"), duration=Q(20, "s"), interval=Q(0.1, "s")))
        device.trigger().wait(10)
        assert "short circuit" in device.interlock.get()
        device.set(OCV(duration=Q(1, "s"), interval=Q(0.1, "s")))
        device.trigger().wait(10)
        assert device.interlock.get() == ""
    finally:
        device.close()
        twin.stop()


def test_reaching_the_compliance_voltage_trips_the_interlock() -> None:
    from labctl.devices.potentiostat.interlocks import InterlockTripped
    from labctl.simulators.scpi_smu.twin import ScpiSmuTwin

    twin = ScpiSmuTwin(seed=3)
    twin.start()
    device = build_device("pstat", _config("scpi"), twin.address)
    device.connect()
    try:
        # A strip long after the plated metal is gone: the potential runs to the compliance.
        device.set(
            CP(
                current=Q(1, "mA"),
                duration=Q(5, "s"),
                interval=Q(0.1, "s"),
                compliance_voltage=Q(2, "V"),
            )
        )
        with pytest.raises(InterlockTripped, match="compliance voltage 2 V reached"):
            device.trigger().wait(10)
    finally:
        device.close()
        twin.stop()
