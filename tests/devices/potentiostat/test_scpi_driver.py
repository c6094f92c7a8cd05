"""The SCPI SMU driver against its twin over pyvisa-py on loopback TCP."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import numpy as np
import pytest

from labctl.devices.potentiostat.scpi import ScpiSmuDriver, TechniqueNotSupportedError
from labctl.errors import CommunicationError, DeviceTimeout, ProtocolError
from labctl.simulators.scpi_smu.twin import ScpiSmuTwin
from labctl.testing.cells import OhmicCell

TIMEOUT = 0.5
R = 20.0


@pytest.fixture
def twin() -> Iterator[ScpiSmuTwin]:
    simulated = ScpiSmuTwin(OhmicCell(resistance=R, noise=1e-6), seed=7)
    simulated.start()
    yield simulated
    simulated.stop()


@pytest.fixture
def driver(twin: ScpiSmuTwin) -> Iterator[ScpiSmuDriver]:
    smu = ScpiSmuDriver(twin.address, device="smu", timeout=TIMEOUT)
    smu.open()
    yield smu
    smu.close()


def run(driver: ScpiSmuDriver, **spec: object) -> dict[str, np.ndarray]:
    return driver.run(spec, stop=threading.Event())


def test_open_reads_the_identity(driver: ScpiSmuDriver) -> None:
    assert driver.identity.startswith("KEITHLEY INSTRUMENTS,MODEL 2450")


def test_chronopotentiometry(driver: ScpiSmuDriver, twin: ScpiSmuTwin) -> None:
    data = run(driver, kind="cp", current=-2e-3, duration=2.0, interval=0.01)
    assert set(data) == {"time", "potential", "current"}
    assert len(data["time"]) == 200
    np.testing.assert_allclose(data["time"], 0.01 * np.arange(1, 201))
    np.testing.assert_allclose(data["current"], -2e-3)
    np.testing.assert_allclose(data["potential"], -2e-3 * R, atol=1e-5)
    assert "SOUR:CURR:VLIM 21" in twin.instrument.commands
    assert twin.instrument.commands[-3:] == ["ABOR", ":OUTP OFF", ":SYST:ERR?"]
    assert twin.instrument.output is False


def test_chronoamperometry_with_a_current_limit(driver: ScpiSmuDriver) -> None:
    data = run(driver, kind="ca", potential=0.1, duration=1.0, interval=0.1, current_limit=1e-3)
    assert len(data["time"]) == 10
    np.testing.assert_allclose(data["potential"], 0.1)
    np.testing.assert_allclose(data["current"], 1e-3)  # 5 mA wanted, clamped at the limit


def test_linear_sweep(driver: ScpiSmuDriver) -> None:
    data = run(driver, kind="lsv", start=0.0, end=-0.5, scan_rate=0.1, step=0.01)
    assert len(data["potential"]) == 51
    np.testing.assert_allclose(data["potential"], np.linspace(0, -0.5, 51), atol=1e-9)
    np.testing.assert_allclose(np.diff(data["time"]), 0.1)
    np.testing.assert_allclose(data["current"], data["potential"] / R, atol=1e-5)


def test_cyclic_voltammetry_closes_on_its_start(driver: ScpiSmuDriver) -> None:
    data = run(
        driver, kind="cv", start=0, vertex1=0.2, vertex2=-0.2, scan_rate=1.0, step=0.05, cycles=2
    )
    potential = data["potential"]
    assert potential[0] == pytest.approx(0)
    assert potential[-1] == pytest.approx(0)
    assert potential.max() == pytest.approx(0.2)
    assert potential.min() == pytest.approx(-0.2)
    assert len(potential) == 2 * 16 + 1


def test_pulse_train_maps_on_and_off_times_to_points(driver: ScpiSmuDriver) -> None:
    data = run(
        driver,
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


def test_plate_strip_stops_at_the_cutoff(driver: ScpiSmuDriver) -> None:
    data = run(
        driver,
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
    assert 1.99e-3 < stripped < 2.11e-3  # everything plated (the crossing point included)
    assert data["potential"][-1] >= 0.5
    assert (data["potential"][:-1] < 0.5).all()
    assert np.all(np.diff(data["time"]) > 0)


def test_open_circuit(driver: ScpiSmuDriver) -> None:
    data = run(driver, kind="ocv", duration=1.0, interval=0.25)
    np.testing.assert_allclose(data["current"], 0.0)
    np.testing.assert_allclose(data["potential"], 0.0, atol=1e-5)


def test_eis_is_refused_clearly(driver: ScpiSmuDriver, twin: ScpiSmuTwin) -> None:
    assert "eis" not in driver.supports
    sent = len(twin.instrument.commands)
    with pytest.raises(TechniqueNotSupportedError, match="cannot do impedance spectroscopy"):
        run(driver, kind="eis", frequencies=[1e3], amplitude=0.01, dc_potential=0)
    assert len(twin.instrument.commands) == sent


def test_an_out_of_range_request_surfaces_the_instrument_error(
    driver: ScpiSmuDriver, twin: ScpiSmuTwin
) -> None:
    with pytest.raises(ProtocolError) as caught:
        run(driver, kind="cp", current=2.0, duration=1.0, interval=0.1)  # beyond 1.05 A
    message = str(caught.value)
    assert "-222," in message
    assert "Data out of range" in message
    assert "smu at TCPIP::127.0.0.1::" in message
    assert "SOUR:LIST:CURR 2," in str(caught.value.sent)
    assert twin.instrument.output is False  # left at open circuit
    assert len(run(driver, kind="cp", current=1e-3, duration=0.2, interval=0.1)["time"]) == 2


def test_instrument_error_fault(driver: ScpiSmuDriver, twin: ScpiSmuTwin) -> None:
    twin.inject("instrument_error")
    with pytest.raises(ProtocolError, match=r"-300,'Device-specific error'"):
        run(driver, kind="cp", current=1e-3, duration=0.2, interval=0.1)
    assert len(run(driver, kind="cp", current=1e-3, duration=0.2, interval=0.1)["time"]) == 2


@pytest.mark.parametrize("fault", ["silence", "garbage"])
def test_wire_faults_fail_within_the_timeout_and_recover(
    driver: ScpiSmuDriver, twin: ScpiSmuTwin, fault: str
) -> None:
    twin.inject(fault)
    started = time.monotonic()
    with pytest.raises(CommunicationError) as caught:
        run(driver, kind="cp", current=1e-3, duration=0.2, interval=0.1)
    assert time.monotonic() - started < 3 * TIMEOUT + 1.0
    assert isinstance(caught.value, DeviceTimeout if fault == "silence" else ProtocolError)
    twin.inject(None)
    assert len(run(driver, kind="cp", current=1e-3, duration=0.2, interval=0.1)["time"]) == 2


def test_drop_mid_measurement_fails_and_recovers() -> None:
    twin = ScpiSmuTwin(OhmicCell(resistance=R), seed=1, time_scale=10.0)
    twin.start()
    driver = ScpiSmuDriver(twin.address, device="smu", timeout=TIMEOUT)
    try:
        driver.open()
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
        twin.inject("drop")
        worker.join(timeout=5)
        assert not worker.is_alive()
        assert time.monotonic() - started < 2.0
        assert len(errors) == 1
        assert isinstance(errors[0], CommunicationError)
        data = run(driver, kind="cp", current=-1e-3, duration=0.2, interval=0.1)
        assert len(data["time"]) == 2
    finally:
        driver.close()
        twin.stop()


def test_stop_event_aborts_and_returns_what_was_measured() -> None:
    twin = ScpiSmuTwin(OhmicCell(resistance=R), seed=1, time_scale=10.0)
    twin.start()
    driver = ScpiSmuDriver(twin.address, device="smu", timeout=TIMEOUT)
    try:
        driver.open()
        stop = threading.Event()
        threading.Timer(0.3, stop.set).start()
        data = driver.run(
            {"kind": "cp", "current": -1e-3, "duration": 100.0, "interval": 0.1}, stop=stop
        )
        assert 0 < len(data["time"]) < 1000
        assert twin.instrument.output is False
    finally:
        driver.close()
        twin.stop()


def test_unreachable_address_is_a_connection_error() -> None:
    driver = ScpiSmuDriver("TCPIP::127.0.0.1::1::SOCKET", device="smu", timeout=TIMEOUT)
    with pytest.raises(CommunicationError, match=r"smu at TCPIP::127\.0\.0\.1::1::SOCKET"):
        driver.open()
    driver.close()
