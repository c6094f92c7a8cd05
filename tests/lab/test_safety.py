"""Environment suspenders: an excursion pauses the running plan; recovery resumes it whole."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from typing import Any

import bluesky.plan_stubs as bps
import bluesky.plans as bp
import pytest

from labctl.config import parse_config
from labctl.devices.environment import EnvironmentSensor
from labctl.lab.registry import build_device
from labctl.lab.rewind import RewindSafeDispatcher
from labctl.lab.safety import EnvironmentWatch, SafetyOptions, environment_suspenders

CONFIG = """
lab: {name: test}
devices:
  glovebox:
    kind: environment-sensor
    driver: opcua
    address: opc.tcp://127.0.0.1:4840
    timeout: {connect: 2 s, read: 500 ms}
    options:
      channels:
        h2o: {node: "ns=2;s=glovebox.h2o", units: ppm, precision: 2}
        temperature: {node: "ns=2;s=glovebox.temperature", units: degC}
    limits:
      h2o: {high: 1 ppm}
      temperature: {low: 15 degC, high: 35 degC}
"""
FAST = SafetyOptions(period=0.05, hysteresis=0.05, settle=0.2)


@pytest.fixture
def watched(environment_twin: Any) -> Iterator[tuple[EnvironmentSensor, EnvironmentWatch]]:
    config = parse_config(CONFIG).model.devices["glovebox"]
    device = build_device("glovebox", config, environment_twin.address)
    device.connect()
    watch = EnvironmentWatch(device, FAST.period)
    watch.start()
    yield device, watch
    watch.stop()
    device.close()


def test_suspenders_follow_the_configured_limits(
    watched: tuple[EnvironmentSensor, EnvironmentWatch],
) -> None:
    _, watch = watched
    suspenders = environment_suspenders([watch], FAST)
    kinds = sorted(type(s).__name__ for s in suspenders)
    # h2o: ceiling; temperature: ceiling and floor; the sensor itself: a fault suspender.
    assert kinds == ["SuspendBoolHigh", "SuspendCeil", "SuspendCeil", "SuspendFloor"]
    assert watch.limits()["h2o"] == (None, 1.0)
    low, high = watch.limits()["temperature"]
    assert low == pytest.approx(288.15)
    assert high == pytest.approx(308.15)


def test_an_excursion_pauses_the_experiment_and_recovery_completes_it_once(
    environment_twin: Any,
    watched: tuple[EnvironmentSensor, EnvironmentWatch],
    run_engine: Any,
) -> None:
    device, watch = watched
    for suspender in environment_suspenders([watch], FAST):
        run_engine.install_suspender(suspender)
    raw: list[tuple[str, dict[str, Any]]] = []
    run_engine.subscribe(lambda name, doc: raw.append((name, doc)))
    documents: list[tuple[str, dict[str, Any]]] = []
    dispatcher = RewindSafeDispatcher(lambda name, doc: documents.append((name, doc)))
    dispatcher.attach(run_engine)

    def excursion() -> None:
        time.sleep(0.4)
        environment_twin.model.set_excursion("h2o", 8.0)  # a leak: 8 ppm
        time.sleep(1.0)
        environment_twin.model.set_excursion("h2o", None)  # the purge recovers it

    leak = threading.Thread(target=excursion)
    started = time.monotonic()
    leak.start()
    run_engine(bp.count([device], num=10, delay=0.1))
    leak.join()
    elapsed = time.monotonic() - started

    assert elapsed > 1.2  # it waited out the excursion
    stops = [doc for name, doc in documents if name == "stop"]
    assert [stop["exit_status"] for stop in stops] == ["success"]
    events = [doc for name, doc in documents if name == "event"]
    assert [event["seq_num"] for event in events] == list(range(1, 11))
    # The RunEngine rewound and retook the reading interrupted by the leak; only the retaken one
    # reached the consumer.
    raw_events = [doc for name, doc in raw if name == "event"]
    assert len(raw_events) == 10 + dispatcher.superseded
    assert dispatcher.superseded >= 1
    assert [name for name, _ in documents] == [name for name, _ in raw if name != "event"][:2] + [
        "event"
    ] * 10 + ["stop"]


def test_an_unreadable_sensor_suspends_until_it_answers_again(
    environment_twin: Any,
    watched: tuple[EnvironmentSensor, EnvironmentWatch],
    run_engine: Any,
) -> None:
    _, watch = watched
    for suspender in environment_suspenders([watch], FAST):
        run_engine.install_suspender(suspender)
    environment_twin.freeze()
    deadline = time.monotonic() + 5
    while watch.fault.get() != 1 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert watch.fault.get() == 1
    assert "glovebox" in (watch.last_error or "")

    def thaw_later() -> None:
        time.sleep(0.5)
        environment_twin.thaw()

    thaw = threading.Thread(target=thaw_later)
    thaw.start()
    started = time.monotonic()
    run_engine(bps.null())
    thaw.join()
    assert time.monotonic() - started > 0.4
    assert watch.fault.get() == 0


def test_the_lab_watches_its_environment_and_stops_watching_on_close(sim_lab_config: Any) -> None:
    from labctl.lab.session import Lab

    with Lab.from_config(sim_lab_config) as lab:
        assert sorted(watch.device.name for watch in lab.safety_watches) == ["glovebox", "room"]
        assert len(lab.RE.suspenders) >= 2 + 4  # two fault suspenders, four limited channels
    assert not [t for t in threading.enumerate() if t.name.startswith("safety-watch-")]


@pytest.mark.parametrize("rewind", [False, True], ids=["no-rewind", "rewind"])
def test_a_lab_suspends_and_stores_each_reading_once(sim_lab_config: Any, rewind: bool) -> None:
    import yaml

    from labctl.lab.session import Lab

    document = yaml.safe_load(sim_lab_config.read_text(encoding="utf-8"))
    document.setdefault("safety", {})["rewind"] = rewind
    sim_lab_config.write_text(yaml.safe_dump(document), encoding="utf-8")
    with Lab.from_config(sim_lab_config) as lab:
        assert lab.RE.rewindable is rewind
        twin = lab.twins["glovebox"]

        def excursion() -> None:
            time.sleep(0.5)
            twin.model.set_excursion("h2o", 8.0)
            time.sleep(1.5)
            twin.model.set_excursion("h2o", None)

        leak = threading.Thread(target=excursion)
        leak.start()
        started = time.monotonic()
        (uid,) = lab.RE(bp.count([lab.devices["glovebox"]], num=12, delay=0.2))
        leak.join()
        assert time.monotonic() - started > 4.0  # 2.4 s of counting plus the held excursion
        assert lab.store is not None
        frame = lab.store.run(uid).stream()
        assert len(frame) == 12
        assert lab.store.runs(limit=1)[0].exit_status == "success"
