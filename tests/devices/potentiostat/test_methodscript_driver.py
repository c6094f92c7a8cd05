"""The MethodSCRIPT driver against its twin: over pyserial's socket:// on loopback, and in memory.

The twin answers from a small stand-in cell (ohmic electrolyte, a metal deposit, a Randles circuit
for EIS) defined here, so these tests do not depend on the shared electrochemistry model.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pytest

from labctl.devices.potentiostat.methodscript import (
    MethodScriptDriver,
    TechniqueNotSupportedError,
)
from labctl.devices.potentiostat.methodscript_scripts import ScriptPlan
from labctl.errors import CommunicationError, DeviceConnectionError, DeviceTimeout, ProtocolError
from labctl.simulators.methodscript.twin import MethodScriptTwin
from labctl.transports.memory import MemoryTransport

TIMEOUT = 0.5
R = 20.0


@dataclass
class StandInCell:
    """Ohmic cell at ``rest`` V with a metal deposit; a Randles circuit for EIS."""

    rest: float = 0.0
    resistance: float = R
    plated: float = 0.0
    charge_transfer: float = 100.0
    capacitance: float = 1e-5


def respond(
    spec: Mapping[str, Any], cell: StandInCell, rng: np.random.Generator
) -> dict[str, Any]:
    kind = spec["kind"]
    if kind == "eis":
        frequency = np.asarray(spec["frequencies"], dtype=float)
        omega = 2 * np.pi * frequency
        rct, cdl = cell.charge_transfer, cell.capacitance
        z = cell.resistance + rct / (1 + 1j * omega * rct * cdl)
        return {"frequency": frequency, "z_real": z.real, "z_imag": z.imag}
    if kind in ("lsv", "cv"):
        step = abs(spec["step"])

        def leg(a: float, b: float) -> np.ndarray:
            return np.linspace(a, b, max(1, round(abs(b - a) / step)) + 1)

        if kind == "lsv":
            potential = leg(spec["start"], spec["end"])[1:]  # one sample after each step
        else:
            start, v1, v2 = spec["start"], spec["vertex1"], spec["vertex2"]
            cycle = np.concatenate([leg(start, v1)[1:], leg(v1, v2)[1:], leg(v2, start)[1:]])
            potential = np.tile(cycle, int(spec["cycles"]))
        time_axis = step / spec["scan_rate"] * np.arange(1, len(potential) + 1)
        current = (potential - cell.rest) / cell.resistance
        return {"time": time_axis, "potential": potential, "current": current}
    interval = spec["interval"]
    count = max(1, round(spec["duration"] / interval))
    time_axis = interval * np.arange(1, count + 1)
    if kind == "ocv":
        potential, current = np.full(count, cell.rest), np.zeros(count)
    elif kind == "ca":
        potential = np.full(count, spec["potential"])
        current = (potential - cell.rest) / cell.resistance
    else:
        current = np.full(count, spec["current"])
        potential = np.empty(count)
        for index, value in enumerate(current):
            cell.plated -= value * interval
            depleted = value > 0 and cell.plated <= 1e-15
            cell.plated = max(cell.plated, 0.0)
            potential[index] = cell.rest + value * cell.resistance + (1.5 if depleted else 0.0)
    if kind != "ca":
        potential = potential + rng.normal(0.0, 1e-7, count)
    return {"time": time_axis, "potential": potential, "current": current}


def make_twin(time_scale: float = 0.0) -> MethodScriptTwin:
    cell = StandInCell()
    return MethodScriptTwin(respond, lambda: cell, seed=7, time_scale=time_scale)


@pytest.fixture(params=["tcp", "memory"])
def rig(request: pytest.FixtureRequest) -> Iterator[tuple[MethodScriptDriver, MethodScriptTwin]]:
    twin = make_twin()
    if request.param == "tcp":
        twin.start()
        driver = MethodScriptDriver(twin.address, device="pstat", timeout=TIMEOUT)
    else:
        transport = MemoryTransport(twin.session(), device="pstat", address="memory://pstat")
        driver = MethodScriptDriver(
            "memory://pstat", device="pstat", timeout=TIMEOUT, transport=transport
        )
    driver.open()
    yield driver, twin
    driver.close()
    twin.stop()


def run(driver: MethodScriptDriver, **spec: object) -> dict[str, np.ndarray]:
    return driver.run(spec, stop=threading.Event())


def test_open_reads_the_identity(rig: tuple[MethodScriptDriver, MethodScriptTwin]) -> None:
    driver, _ = rig
    assert driver.identity.startswith("EmStat4 HR, firmware es4_hr1.4.00")
    assert "serial ES4HR-LABCTL-TWIN" in driver.identity


def test_open_circuit(rig: tuple[MethodScriptDriver, MethodScriptTwin]) -> None:
    data = run(rig[0], kind="ocv", duration=1.0, interval=0.25)
    np.testing.assert_allclose(data["time"], [0.25, 0.5, 0.75, 1.0])
    np.testing.assert_allclose(data["current"], 0.0)
    np.testing.assert_allclose(data["potential"], 0.0, atol=1e-5)
    assert "meas_loop_ocp p 250m 1" in rig[1].instrument.scripts[-1]


def test_chronoamperometry(rig: tuple[MethodScriptDriver, MethodScriptTwin]) -> None:
    data = run(rig[0], kind="ca", potential=0.1, duration=2.0, interval=0.1)
    assert len(data["time"]) == 20
    np.testing.assert_allclose(data["time"], 0.1 * np.arange(1, 21), rtol=1e-6)
    np.testing.assert_allclose(data["potential"], 0.1, rtol=1e-6)
    np.testing.assert_allclose(data["current"], 0.1 / R, rtol=1e-6)


def test_chronoamperometry_current_limit_clips(
    rig: tuple[MethodScriptDriver, MethodScriptTwin],
) -> None:
    data = run(rig[0], kind="ca", potential=0.1, duration=1.0, interval=0.1, current_limit=1e-3)
    np.testing.assert_allclose(data["current"], 1e-3)  # 5 mA wanted, the 1 mA range is the top
    assert "set_autoranging ba 1n 1m" in rig[1].instrument.scripts[-1]


def test_chronopotentiometry(rig: tuple[MethodScriptDriver, MethodScriptTwin]) -> None:
    data = run(rig[0], kind="cp", current=-2e-3, duration=2.0, interval=0.01)
    assert len(data["time"]) == 200
    np.testing.assert_allclose(data["current"], -2e-3)
    np.testing.assert_allclose(data["potential"], -2e-3 * R, atol=1e-5)
    script = rig[1].instrument.scripts[-1]
    assert "set_pgstat_mode 6" in script
    assert script[-2:] == ["on_finished:", "  cell_off"]


def test_linear_sweep(rig: tuple[MethodScriptDriver, MethodScriptTwin]) -> None:
    data = run(rig[0], kind="lsv", start=0.0, end=-0.5, scan_rate=0.1, step=0.01)
    assert len(data["potential"]) == 51
    np.testing.assert_allclose(data["potential"], np.linspace(0, -0.5, 51), atol=1e-9)
    np.testing.assert_allclose(np.diff(data["time"]), 0.1, rtol=1e-6)
    current = data["current"]
    np.testing.assert_allclose(current[1:], data["potential"][1:] / R, atol=1e-9)
    assert current[0] == current[1]  # the reading at the begin potential precedes the first step


def test_cyclic_voltammetry(rig: tuple[MethodScriptDriver, MethodScriptTwin]) -> None:
    data = run(
        rig[0], kind="cv", start=0, vertex1=0.2, vertex2=-0.2, scan_rate=1.0, step=0.05, cycles=2
    )
    potential = data["potential"]
    assert len(potential) == 2 * 16 + 1
    assert potential[0] == pytest.approx(0)
    assert potential[-1] == pytest.approx(0)
    assert potential.max() == pytest.approx(0.2)
    assert potential.min() == pytest.approx(-0.2)
    assert any("nscans(2)" in line for line in rig[1].instrument.scripts[-1])


@pytest.mark.parametrize(
    "frequencies",
    [[1e5, 1e4, 1e3, 100.0, 10.0], [1e5, 3e4, 1e3, 7.0]],
    ids=["log-spaced", "arbitrary"],
)
def test_impedance_spectroscopy(
    rig: tuple[MethodScriptDriver, MethodScriptTwin], frequencies: list[float]
) -> None:
    data = run(rig[0], kind="eis", frequencies=frequencies, amplitude=0.01, dc_potential=0.0)
    assert set(data) == {"frequency", "z_real", "z_imag"}
    np.testing.assert_allclose(data["frequency"], frequencies, rtol=1e-6)
    omega = 2 * np.pi * np.asarray(frequencies)
    z = R + 100.0 / (1 + 1j * omega * 100.0 * 1e-5)
    np.testing.assert_allclose(data["z_real"], z.real, rtol=1e-5)  # 7 hex digits
    np.testing.assert_allclose(data["z_imag"], z.imag, rtol=1e-5)
    assert (data["z_imag"] < 0).all()
    loops = [line for line in rig[1].instrument.scripts[-1] if line.startswith("meas_loop_eis")]
    assert len(loops) == (1 if len(frequencies) == 5 else 4)


def test_pulse_train(rig: tuple[MethodScriptDriver, MethodScriptTwin]) -> None:
    data = run(
        rig[0],
        kind="pulse_train",
        on_current=-5e-3,
        on_time=0.03,
        off_current=0.0,
        off_time=0.07,
        cycles=5,
        interval=0.01,
    )
    current = data["current"]
    assert len(current) == 50
    np.testing.assert_allclose(current[:10], [-5e-3] * 3 + [0.0] * 7)
    assert (current == -5e-3).sum() == 15
    assert data["time"][-1] == pytest.approx(0.5)
    assert np.all(np.diff(data["time"]) > 0)


def test_plate_strip_stops_at_the_cutoff(rig: tuple[MethodScriptDriver, MethodScriptTwin]) -> None:
    data = run(
        rig[0],
        kind="plate_strip",
        plate_current=-1e-3,
        plate_charge=2e-3,
        rest_time=0.5,
        strip_current=1e-3,
        cutoff_potential=0.5,
        interval=0.1,
    )
    current = data["current"]
    assert (current < 0).sum() == 20  # 2 mC at 1 mA = 2 s
    assert (current == 0).sum() == 5
    stripped = current[current > 0].sum() * 0.1
    assert 1.99e-3 < stripped < 2.11e-3
    assert data["potential"][-1] >= 0.5
    assert (data["potential"][:-1] < 0.5).all()
    assert np.all(np.diff(data["time"]) > 0)


def test_compliance_voltage_stops_a_galvanostatic_segment(
    rig: tuple[MethodScriptDriver, MethodScriptTwin],
) -> None:
    data = run(
        rig[0], kind="cp", current=5e-3, duration=1.0, interval=0.1, compliance_voltage=0.05
    )
    assert len(data["time"]) == 1  # 5 mA × 20 Ω = 0.1 V > 0.05 V: stopped after the first point


def test_unknown_technique_is_refused_before_sending(
    rig: tuple[MethodScriptDriver, MethodScriptTwin],
) -> None:
    sent = len(rig[1].instrument.scripts)
    received = rig[1].server.bytes_received
    with pytest.raises(TechniqueNotSupportedError, match="'swv' is not one of"):
        run(rig[0], kind="swv")
    assert len(rig[1].instrument.scripts) == sent
    assert rig[1].server.bytes_received == received  # no byte left the host
    assert "eis" in rig[0].supports


def test_beyond_the_instrument_range_surfaces_its_error(
    rig: tuple[MethodScriptDriver, MethodScriptTwin],
) -> None:
    driver, twin = rig
    with pytest.raises(ProtocolError) as caught:
        run(driver, kind="cp", current=0.5, duration=1.0, interval=0.1)  # beyond 100 mA
    error = caught.value
    assert "error 0x0010" in str(error)
    assert error.device == "pstat"
    assert error.address == driver.address
    assert "e + cp script" in str(error.sent)
    assert str(error.received).startswith("!0010: Line")
    assert twin.instrument.scripts[-1] == ["cell_off"]  # the driver left the cell off
    assert twin.output_on is False
    assert len(run(driver, kind="cp", current=1e-3, duration=0.2, interval=0.1)["time"]) == 2


def test_a_refused_script_is_reported_and_the_link_resynchronises(
    rig: tuple[MethodScriptDriver, MethodScriptTwin], monkeypatch: pytest.MonkeyPatch
) -> None:
    driver, _ = rig
    bad = ScriptPlan("ca", ("var p", "bogus 1"), "time", 0.1)
    monkeypatch.setattr(driver, "script", lambda _technique: bad)
    with pytest.raises(ProtocolError, match="refused the script with error 0x4001") as caught:
        run(driver, kind="ca")
    assert caught.value.received == "e!4001: Line 2, Col 1"
    monkeypatch.undo()
    assert len(run(driver, kind="ca", potential=0.1, duration=0.2, interval=0.1)["time"]) == 2


def test_instrument_error_fault(rig: tuple[MethodScriptDriver, MethodScriptTwin]) -> None:
    driver, twin = rig
    twin.inject("instrument_error")
    with pytest.raises(ProtocolError, match="error 0x0001"):
        run(driver, kind="ca", potential=0.1, duration=0.2, interval=0.1)
    assert len(run(driver, kind="ca", potential=0.1, duration=0.2, interval=0.1)["time"]) == 2


# -- wire faults (loopback TCP) -----------------------------------------------------------------


@pytest.fixture
def served() -> Iterator[tuple[MethodScriptDriver, MethodScriptTwin]]:
    twin = make_twin(time_scale=10.0)
    twin.start()
    driver = MethodScriptDriver(twin.address, device="pstat", timeout=TIMEOUT)
    driver.open()
    yield driver, twin
    driver.close()
    twin.stop()


@pytest.mark.parametrize("fault", ["silence", "garbage"])
def test_wire_faults_fail_within_the_timeout_and_recover(
    served: tuple[MethodScriptDriver, MethodScriptTwin], fault: str
) -> None:
    driver, twin = served
    twin.inject(fault)
    started = time.monotonic()
    with pytest.raises(CommunicationError) as caught:
        run(driver, kind="ca", potential=0.1, duration=1.0, interval=0.1)
    assert time.monotonic() - started < TIMEOUT + 0.1 + 1.0
    assert isinstance(caught.value, DeviceTimeout if fault == "silence" else ProtocolError)
    assert "pstat at socket://127.0.0.1:" in str(caught.value)
    twin.inject(None)
    assert len(run(driver, kind="ca", potential=0.1, duration=1.0, interval=0.1)["time"]) == 10


@pytest.mark.parametrize("fault", ["drop", "silence", "garbage"])
def test_faults_mid_measurement_fail_fast_and_recover(
    served: tuple[MethodScriptDriver, MethodScriptTwin], fault: str
) -> None:
    driver, twin = served
    errors: list[BaseException] = []

    def measure() -> None:
        try:
            run(driver, kind="cp", current=-1e-3, duration=20.0, interval=0.1)  # 2 s wall
        except BaseException as error:
            errors.append(error)

    worker = threading.Thread(target=measure)
    started = time.monotonic()
    worker.start()
    time.sleep(0.3)
    twin.inject(fault)
    worker.join(timeout=5)
    assert not worker.is_alive()
    assert time.monotonic() - started < 0.3 + TIMEOUT + 0.1 + 1.0
    assert len(errors) == 1
    expected = {"drop": DeviceConnectionError, "silence": DeviceTimeout, "garbage": ProtocolError}
    assert isinstance(errors[0], expected[fault])
    twin.inject(None)
    assert len(run(driver, kind="cp", current=-1e-3, duration=0.2, interval=0.1)["time"]) == 2


def test_stop_event_aborts_and_returns_what_was_measured(
    served: tuple[MethodScriptDriver, MethodScriptTwin],
) -> None:
    driver, twin = served
    stop = threading.Event()
    timer = threading.Timer(0.3, stop.set)
    timer.start()
    started = time.monotonic()
    data = driver.run(
        {"kind": "cp", "current": -1e-3, "duration": 100.0, "interval": 0.1}, stop=stop
    )
    timer.join()
    assert time.monotonic() - started < 1.5
    assert 0 < len(data["time"]) < 1000
    np.testing.assert_allclose(data["current"], -1e-3)
    assert twin.output_on is False  # on_finished: ran after the abort
    assert len(run(driver, kind="ocv", duration=0.2, interval=0.1)["time"]) == 2


def test_open_aborts_a_script_left_running() -> None:
    twin = make_twin(time_scale=10.0)
    twin.start()
    first = MethodScriptDriver(twin.address, device="pstat", timeout=TIMEOUT)
    second = MethodScriptDriver(twin.address, device="pstat", timeout=TIMEOUT)
    try:
        first.open()
        stop = threading.Event()
        threading.Timer(0.2, stop.set).start()
        first.run({"kind": "ocv", "duration": 100.0, "interval": 0.1}, stop=stop)
        first.close()
        second.open()
        assert second.identity.startswith("EmStat4 HR")
    finally:
        first.close()
        second.close()
        twin.stop()


def test_unreachable_address_is_a_connection_error() -> None:
    driver = MethodScriptDriver("socket://127.0.0.1:1", device="pstat", timeout=TIMEOUT)
    with pytest.raises(DeviceConnectionError, match=r"pstat at socket://127\.0\.0\.1:1"):
        driver.open()
    driver.close()


# -- through the ophyd device and the RunEngine ---------------------------------------------------


def test_the_potentiostat_device_runs_eis_and_refuses_beyond_its_limits(run_engine: Any) -> None:
    from bluesky import plan_stubs as bps
    from bluesky import plans as bp

    from labctl.devices.potentiostat.device import Potentiostat
    from labctl.devices.potentiostat.techniques import CA, EIS, TechniqueLimits
    from labctl.errors import SafetyLimitError
    from labctl.units import ureg

    twin = make_twin()
    transport = MemoryTransport(twin.session(), device="pstat", address="memory://pstat")
    driver = MethodScriptDriver(
        "memory://pstat", device="pstat", timeout=TIMEOUT, transport=transport
    )
    limits = TechniqueLimits(device="pstat", potential=(-1.0, 1.0))
    pstat = Potentiostat(driver=driver, limits=limits, name="pstat")
    pstat.connect()
    try:
        eis = EIS(
            frequencies=[ureg.Quantity(f, "Hz") for f in (1e4, 1e3, 1e2)],
            dc_potential=ureg.Quantity(0, "V"),
        )
        documents: list[tuple[str, dict[str, Any]]] = []

        def measure() -> Any:
            yield from bps.mv(pstat, eis)
            yield from bp.count([pstat])

        run_engine(measure(), lambda name, doc: documents.append((name, doc)))
        event = next(doc for name, doc in documents if name == "event")
        np.testing.assert_allclose(event["data"]["pstat_frequency"], [1e4, 1e3, 1e2], rtol=1e-6)
        assert (np.asarray(event["data"]["pstat_z_imag"]) < 0).all()
        scripts = len(twin.instrument.scripts)
        with pytest.raises(SafetyLimitError):
            pstat.set(CA(potential="2 V", duration="1 s", interval="0.1 s"))
        assert len(twin.instrument.scripts) == scripts  # nothing was sent
    finally:
        pstat.close()


def test_through_the_shared_electrochemistry_model() -> None:
    pytest.importorskip("labctl.simulators.electrochem.response")
    twin = MethodScriptTwin(seed=3)  # the model's default cell: ferrocene-like probe at 3.25 V
    transport = MemoryTransport(twin.session(), device="pstat", address="memory://pstat")
    driver = MethodScriptDriver(
        "memory://pstat", device="pstat", timeout=TIMEOUT, transport=transport
    )
    driver.open()
    cv = run(
        driver, kind="cv", start=3.0, vertex1=3.5, vertex2=3.0, step=1e-3, scan_rate=0.1, cycles=1
    )
    potential, current = cv["potential"], cv["current"]
    turn = int(np.argmax(potential))
    anodic = potential[:turn][np.argmax(current[:turn])]
    cathodic = potential[turn:][np.argmin(current[turn:])]
    assert 0.057 < anodic - cathodic < 0.062  # reversible one-electron couple at 25 °C
    eis = run(
        driver,
        kind="eis",
        frequencies=list(np.geomspace(1e5, 1.0, 11)),
        amplitude=0.01,
        dc_potential=0,
    )
    assert (eis["z_imag"] < 0).all()
    assert (eis["z_real"] > 0).all()
    driver.close()
