"""The GRBL driver against the GRBL twin, in memory and over loopback TCP (socket://)."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pytest

from labctl.devices.stage.errors import MoveStopped, StageAlarm, StageCommandError
from labctl.devices.stage.grbl import GrblDriver
from labctl.errors import DeviceConnectionError, DeviceTimeout, ProtocolError
from labctl.simulators.grbl.twin import GrblTwin, GrblTwinOptions
from labctl.transports.memory import MemoryTransport

TIMEOUT = 0.5


def _memory(twin: GrblTwin, **kwargs: float) -> GrblDriver:
    transport = MemoryTransport(twin.session(), device="stage", timeout=TIMEOUT)
    return GrblDriver(
        "memory://stage",
        device="stage",
        timeout=TIMEOUT,
        transport=transport,
        poll_interval=0.01,
        **kwargs,
    )


@pytest.fixture
def served() -> Iterator[tuple[GrblTwin, GrblDriver]]:
    twin = GrblTwin(GrblTwinOptions(surface_z=2.0), name="stage")
    twin.start()
    driver = GrblDriver(
        twin.address, device="stage", timeout=TIMEOUT, poll_interval=0.01, motion_margin=0.5
    )
    driver.open()
    yield twin, driver
    driver.close()
    twin.stop()


def test_connects_identifies_and_starts_locked_until_homed(
    served: tuple[GrblTwin, GrblDriver],
) -> None:
    twin, driver = served
    assert driver.identity == "GRBL 1.1h.20190830 (labctl GRBL twin)"
    assert driver.status().state == "Alarm"
    sent = twin.server.bytes_received
    with pytest.raises(StageCommandError, match="home or unlock") as caught:
        driver.move_to((10, 10, 10), 600)
    assert caught.value.code == 9
    assert twin.server.bytes_received - sent == 1  # only the status query went out
    assert driver.home() == (0.0, 0.0, 50.0)
    assert driver.status().state == "Idle"


def test_absolute_moves_arrive_and_contact_shows_as_probe_pin(
    served: tuple[GrblTwin, GrblDriver],
) -> None:
    twin, driver = served
    driver.home()
    assert driver.move_to((10, 20, 5), 1200) == (10.0, 20.0, 5.0)
    assert driver.move_to((None, None, 2.4), 300) == (10.0, 20.0, 2.4)
    assert twin.contact
    assert "P" in driver.status().pins
    assert driver.move_to((None, None, 2.6), 300)[2] == 2.6
    assert not twin.contact
    assert "P" not in driver.status().pins


def test_work_offsets_and_wpos_reports() -> None:
    options = GrblTwinOptions(work_offset=(5.0, 5.0, 0.0), report="wpos", start_locked=False)
    twin = GrblTwin(options)
    driver = _memory(twin)
    driver.open()
    assert driver.status().work_position == (-5.0, -5.0, 50.0)
    assert driver.work_offset == (5.0, 5.0, 0.0)
    assert driver.move_to((10, 10, 10), 3000) == (10.0, 10.0, 10.0)
    assert twin.machine_position == (15.0, 15.0, 10.0)


def test_soft_limit_alarm_is_named_and_can_be_unlocked() -> None:
    twin = GrblTwin(GrblTwinOptions(start_locked=False))
    driver = _memory(twin)
    driver.move_to((10, 10, 10), 3000)
    with pytest.raises(StageAlarm, match="alarm 2: soft limit") as caught:
        driver.move_to((200, 10, 10), 3000)
    assert caught.value.code == 2
    report = driver.status()  # the driver reset the critical alarm: GRBL answers again
    assert report.state == "Alarm"
    assert report.machine_position == (10.0, 10.0, 10.0)  # position retained
    driver.unlock()
    assert driver.move_to((20, 10, 10), 3000) == (20.0, 10.0, 10.0)


def test_hard_limit_stops_at_the_end_of_travel_and_homing_recovers() -> None:
    twin = GrblTwin(GrblTwinOptions(soft_limits=False, start_locked=False))
    driver = _memory(twin)
    with pytest.raises(StageAlarm, match="alarm 1: hard limit"):
        driver.move_to((200, 0, 50), 3000)
    assert twin.machine_position[0] == pytest.approx(150.0)
    assert twin.state == "Alarm"
    driver.home()
    assert driver.move_to((1, 1, 1), 3000) == (1.0, 1.0, 1.0)


def test_commands_refused_by_the_controller_are_named() -> None:
    twin = GrblTwin(GrblTwinOptions(homing=False, soft_limits=False))
    driver = _memory(twin)
    with pytest.raises(StageCommandError, match="error 5: homing is not enabled") as caught:
        driver.home()
    assert caught.value.code == 5
    assert b"$H" in caught.value.sent


def test_injected_alarm_fails_the_next_move() -> None:
    twin = GrblTwin(GrblTwinOptions(start_locked=False))
    driver = _memory(twin)
    twin.inject("alarm")
    with pytest.raises(StageAlarm, match="hard limit"):
        driver.move_to((100, 0, 50), 3000)
    assert twin.machine_position[0] == pytest.approx(50.0)
    driver.home()
    assert driver.move_to((100, 0, 50), 3000)[0] == 100.0


def test_motion_takes_distance_over_feed_and_polls_until_idle() -> None:
    twin = GrblTwin(GrblTwinOptions(start_locked=False), time_scale=10.0)
    driver = _memory(twin)
    started = time.monotonic()
    driver.move_to((10, 0, 50), 600)  # 10 mm at 600 mm/min = 1 s simulated = 0.1 s wall
    elapsed = time.monotonic() - started
    assert 0.1 <= elapsed < 1.0  # polled until Idle, not a fixed sleep


def test_an_overdue_move_times_out_naming_the_move() -> None:
    twin = GrblTwin(GrblTwinOptions(start_locked=False), time_scale=0.5)
    driver = _memory(twin, motion_margin=0.05)
    with pytest.raises(DeviceTimeout, match=r"move not finished within .*distance 1\.000 mm"):
        driver.move_to((1, 0, 50), 600)  # 0.1 s simulated = 0.2 s wall > 0.1 + 0.05 s


def test_stop_holds_then_resets_keeping_the_position() -> None:
    twin = GrblTwin(GrblTwinOptions(start_locked=False), time_scale=1.0)
    driver = _memory(twin)
    stop = threading.Event()
    timer = threading.Timer(0.15, stop.set)
    timer.start()
    with pytest.raises(MoveStopped, match="stopped at"):
        driver.move_to((100, 0, 50), 600, stop=stop)  # would take 10 s
    timer.join()
    x = twin.machine_position[0]
    assert 0.5 < x < 50.0
    report = driver.status()
    assert report.state == "Idle"  # a reset after a completed hold raises no alarm
    time.sleep(0.05)
    assert twin.machine_position[0] == x


def test_halt_when_idle_and_feed_hold_resume() -> None:
    twin = GrblTwin(GrblTwinOptions(start_locked=False), time_scale=1.0)
    driver = _memory(twin)
    assert driver.halt() == (0.0, 0.0, 50.0)
    driver.feed_hold()
    assert driver.status().state == "Hold"
    driver.resume()
    assert driver.status().state == "Idle"


def test_reset_while_moving_raises_alarm_3() -> None:
    twin = GrblTwin(GrblTwinOptions(start_locked=False), time_scale=1.0)
    driver = _memory(twin)
    driver._guarded(lambda: driver._command(b"G1 X100 F600\n"))
    driver.soft_reset()
    assert twin.state == "Alarm"
    with pytest.raises(StageCommandError, match="Alarm state"):
        driver.move_to((1, 1, 1), 600)


@pytest.mark.parametrize(
    ("fault", "error"),
    [("silence", DeviceTimeout), ("drop", DeviceConnectionError), ("garbage", ProtocolError)],
)
def test_wire_faults_fail_within_the_timeout_and_the_driver_recovers(
    served: tuple[GrblTwin, GrblDriver], fault: str, error: type[Exception]
) -> None:
    twin, driver = served
    driver.home()
    twin.inject(fault)
    started = time.monotonic()
    with pytest.raises(error):
        driver.move_to((5, 5, 5), 3000)
    assert time.monotonic() - started < 3 * TIMEOUT
    twin.inject(None)
    assert driver.move_to((5, 5, 5), 3000) == (5.0, 5.0, 5.0)


def test_an_unreachable_controller_is_a_connection_error() -> None:
    driver = GrblDriver("socket://127.0.0.1:9", device="stage", timeout=TIMEOUT)
    with pytest.raises(DeviceConnectionError, match=r"stage at socket://127\.0\.0\.1:9"):
        driver.open()


class _Booting:
    """A controller whose bootloader swallows the first requests after the port opens."""

    def __init__(self, twin: GrblTwin, swallowed: int) -> None:
        self.session = twin.session()
        self.swallowed = swallowed

    def feed(self, data: bytes) -> list[bytes]:
        if self.swallowed > 0:
            self.swallowed -= 1
            return []
        return list(self.session.feed(data))


def test_open_keeps_asking_while_the_controller_boots() -> None:
    twin = GrblTwin()
    transport = MemoryTransport(_Booting(twin, 3), device="stage", timeout=0.05)
    driver = GrblDriver(
        "memory://stage", device="stage", timeout=0.05, transport=transport, connect_timeout=1.0
    )
    driver.open()
    assert driver.status().state == "Alarm"
    silent = MemoryTransport(_Booting(twin, 10**9), device="stage", timeout=0.05)
    driver = GrblDriver(
        "memory://stage", device="stage", timeout=0.05, transport=silent, connect_timeout=0.2
    )
    started = time.monotonic()
    with pytest.raises(DeviceTimeout, match="no complete reply"):
        driver.open()
    assert time.monotonic() - started < 1.0


def test_probing_lands_on_contact_or_names_the_missing_contact() -> None:
    twin = GrblTwin(GrblTwinOptions(start_locked=False, surface_z=2.0, work_offset=(1, 1, 0)))
    driver = _memory(twin)
    driver.move_to((10, 10, 10), 3000)
    assert driver.probe((None, None, 0.0), 100) == pytest.approx((10.0, 10.0, 2.5))
    assert twin.contact
    driver.move_to((None, None, 10), 3000)
    assert driver.probe((20, None, None), 100, require_contact=False) is None
    with pytest.raises(StageAlarm, match="alarm 5: probe fail: no contact") as caught:
        driver.probe((30, None, None), 100)
    assert caught.value.code == 5
    assert driver.status().state == "Alarm"  # the trailing ok of the probe line was skipped
    driver.unlock()
    assert driver.move_to((5, 5, 10), 3000) == (5.0, 5.0, 10.0)
