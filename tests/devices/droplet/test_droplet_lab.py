"""The scanning droplet cell on its twins, built by the Lab from configs/examples/droplet.yaml.

One world: the GRBL stage twin gives contact, the Cavro pump twin fills the head, the
MethodSCRIPT potentiostat twin measures the world cell the droplet-cell twin installs — the site
the droplet stands on, with its own plated metal.
"""

from __future__ import annotations

import copy
import json
import subprocess
import sys
import threading
import time
from collections.abc import Generator, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml
from bluesky import plan_stubs as bps
from bluesky.utils import FailedStatus, Msg

from labctl.devices.droplet.device import ContactLost, DropletError
from labctl.devices.droplet.sites import Site
from labctl.devices.potentiostat.interlocks import InterlockTripped
from labctl.lab.session import Lab
from labctl.plans.techniques import measure
from labctl.simulators.grbl.stage_world import contact
from labctl.testing.configs import write_config
from labctl.testing.store import prepare_store
from labctl.units import to_magnitude

EXAMPLE = Path(__file__).resolve().parents[3] / "configs" / "examples" / "droplet.yaml"
SAFE_Z = 7.5

PULSES = {
    "kind": "pulse_train",
    "on_current": "-80 uA",  # ≈ 10 mA/cm² on the 1 mm droplet
    "on_time": "10 ms",
    "off_time": "30 ms",
    "cycles": 50,
    "interval": "10 ms",
}
STRIP = {
    "kind": "plate_strip",
    "plate_current": "-80 uA",
    "plate_charge": "100 uC",
    "rest_time": "1 s",
    "strip_current": "80 uA",
    "cutoff_potential": "0.3 V",
    "interval": "10 ms",
}


def _document(**potentiostat_twin: Any) -> dict[str, Any]:
    document: dict[str, Any] = yaml.safe_load(EXAMPLE.read_text(encoding="utf-8"))
    document["lab"]["data_directory"] = "data"
    document["devices"]["stage"]["options"]["poll_interval"] = "10 ms"
    document["devices"]["potentiostat"]["twin"].update(potentiostat_twin)
    return document


@pytest.fixture
def lab_factory(tmp_path: Path) -> Iterator[Any]:
    labs: list[Lab] = []
    prepare_store(tmp_path / "data" / "tiled")

    def build(document: dict[str, Any]) -> Lab:
        lab = Lab.from_config(write_config(tmp_path, document))
        labs.append(lab)
        return lab

    yield build
    for lab in labs:
        lab.close()


def _assert_safe(lab: Lab, site: Site, *, state: str = "failed") -> None:
    droplet, stage, pump = (lab.devices[n] for n in ("droplet", "stage", "pump"))
    assert stage.position[2] >= SAFE_Z - 1e-6
    assert not contact(lab.world, "stage")
    assert not droplet.is_landed
    worker = pump._worker
    assert worker is None or not worker.is_alive()
    assert droplet.sites.state(site) == state


def _plating(droplet: Any, pstat: Any, site: Any = "fresh") -> Generator[Msg, Any, str]:
    """One plating experiment as one run: move, flush, land, pulse train, strip, lift.

    The droplet sequence as a plan (the cell itself offers only the moves), as
    ``pulsed_charging_experiment`` runs it for a campaign: the flush is the cell's
    ``flush_volume`` (none at 0 mL).

    Args:
        droplet: the lab's droplet cell.
        pstat: its potentiostat.
        site: ``"fresh"`` (the next fresh site) or the site to claim, e.g. ``(0, 5)``.

    Returns:
        The run's uid.
    """
    uid: str = yield from bps.open_run(md={"experiment": "pulsed-plating"})
    yield from bps.mv(droplet, site)
    flush = to_magnitude(droplet.options.flush_volume, "mL")
    if flush > 0:
        yield from bps.mv(droplet.flushed, flush)
    yield from bps.mv(droplet.landed, 1)
    yield from measure(pstat, PULSES, stream="pulse_train")
    yield from measure(pstat, STRIP, stream="plate_strip")
    yield from bps.mv(droplet.landed, 0)
    yield from bps.close_run()
    return uid


def _failure_of(lab: Lab, plan: Generator[Msg, Any, Any]) -> BaseException:
    """Run ``plan``, which must fail; the error its failed status carries (the device's)."""
    with pytest.raises(FailedStatus) as caught:
        lab.RE(plan)
    error = caught.value.args[0].exception()
    assert isinstance(error, BaseException)
    return error


def test_full_experiment_through_the_run_engine(lab_factory: Any, tmp_path: Path) -> None:
    lab = lab_factory(_document())
    droplet, pstat = lab.devices["droplet"], lab.devices["potentiostat"]

    def plan() -> Any:
        yield from bps.open_run(md={"experiment": "pulsed-plating"})
        yield from bps.mv(droplet, "fresh")  # lift, travel to the next fresh site
        yield from bps.mv(droplet.flushed, 0.05)  # mL through the head
        yield from bps.mv(droplet.landed, 1)
        yield from bps.trigger_and_read([droplet], name="landing")
        yield from measure(pstat, PULSES, stream="pulse_train")
        yield from measure(pstat, STRIP, stream="plate_strip")
        yield from bps.mv(droplet.landed, 0)
        yield from bps.trigger_and_read([droplet], name="site")
        yield from bps.close_run()

    (uid,) = lab.RE(plan())
    site = Site(0, 0)
    _assert_safe(lab, site, state="used")
    assert droplet.contact_z.get() == pytest.approx(2.5)  # surface 2.0 mm + 0.5 mm droplet
    run = lab.store.run(uid)
    assert {"landing", "pulse_train", "plate_strip", "site"} <= set(run.streams)
    landing = run.stream("landing")
    assert landing["droplet_site_row"].tolist() == [0]
    assert landing["droplet_site_x"].tolist() == [20.0]
    assert landing["droplet_landed"].tolist() == [1]
    pulses = run.stream("pulse_train")
    (potential,) = pulses["potentiostat_potential"]
    assert potential.shape == (200,)
    # A Zn cell, not an open circuit: plating at ≈ −60 mV (+ iR), resting near 0 V vs Zn.
    assert -0.2 < float(np.min(potential)) < -0.03
    strip = run.stream("plate_strip")
    (strip_potential,) = strip["potentiostat_potential"]
    assert strip_potential[-1] > 0.3  # stripped to the cut-off: the plated Zn came back
    # The world: the droplet stood on (0, 0), which now remembers its electrode.
    substrate = lab.world.substrates["zn-foil-01"]
    assert substrate.touched() == [(0, 0)]
    memory = substrate.properties(0, 0)["electrochem"]
    assert memory.plated_charge < 1e-12  # stripped bare again
    assert memory.lost_charge > 0
    assert lab.world.vials["head"].contents.total_mass == pytest.approx(0.058, rel=0.02)

    # The same sequence again: the next fresh site, with the droplet's own flush volume.
    (second,) = lab.RE(_plating(droplet, pstat))
    _assert_safe(lab, Site(0, 1), state="used")
    assert {"pulse_train", "plate_strip"} <= set(lab.store.run(second).streams)
    assert substrate.touched() == [(0, 0), (0, 1)]
    # Per-site variation: the two sites are different cells.
    assert substrate.parameters(0, 0) != substrate.parameters(0, 1)

    # A new process sees the same map: two used, the next fresh site is (0, 2).
    path = droplet.sites.path
    script = (
        "import json\n"
        "from labctl.devices.droplet.sites import SubstrateMap\n"
        f"m = SubstrateMap({str(path)!r}, rows=4, columns=6, pitch=2.5, origin=(20.0, 20.0),"
        " name='zn-foil-01')\n"
        "print(json.dumps({s.key: v for s, v in m.states().items() if v != 'fresh'}))\n"
    )
    result = subprocess.run(
        [sys.executable, "-P", "-c", script], capture_output=True, text=True, check=True
    )
    assert json.loads(result.stdout) == {"0,0": "used", "0,1": "used"}
    assert droplet.next_site() == Site(0, 2)


def test_a_new_lab_continues_on_the_next_fresh_site(lab_factory: Any) -> None:
    first = lab_factory(_document())
    first.RE(_plating(first.devices["droplet"], first.devices["potentiostat"]))
    first.close()
    second = lab_factory(_document())
    droplet = second.devices["droplet"]
    assert droplet.sites.state((0, 0)) == "used"
    second.RE(_plating(droplet, second.devices["potentiostat"]))
    assert droplet.current_site == Site(0, 1)
    _assert_safe(second, Site(0, 1), state="used")


def test_a_stage_alarm_leaves_the_cell_lifted_and_the_site_failed(lab_factory: Any) -> None:
    lab = lab_factory(_document())
    droplet, pstat = lab.devices["droplet"], lab.devices["potentiostat"]
    lab.twins["stage"].inject("alarm")  # the next move trips a limit switch half way
    started = time.monotonic()
    error = _failure_of(lab, _plating(droplet, pstat))
    assert time.monotonic() - started < 20
    assert isinstance(error, DropletError)
    message = str(error)
    assert "alarm 1" in message
    assert "site (0, 0)" in message
    assert "cell lifted" in message
    assert "pump stopped" in message
    assert "site (0, 0) marked failed" in message
    _assert_safe(lab, Site(0, 0))
    assert lab.devices["stage"].driver.status().state == "Idle"  # reset and unlocked
    # The cell carries on with the next fresh site.
    lab.RE(_plating(droplet, pstat))
    _assert_safe(lab, Site(0, 1), state="used")


def test_closing_the_lab_parks_a_stage_left_in_alarm(lab_factory: Any) -> None:
    """An alarm after the last experiment (chaos found one) is reset, the cell left up."""
    lab = lab_factory(_document())
    stage = lab.devices["stage"]
    stage.move_to(None, None, 3.0).wait(30)  # low, over the substrate
    lab.twins["stage"].inject("alarm")
    with pytest.raises(Exception, match="alarm"):
        stage.move_to(5.0, 5.0, None).wait(30)
    assert lab.twins["stage"].state.startswith("Alarm")
    lab.close_devices()  # as a session ends: composites first, while their parts still answer
    assert not lab.twins["stage"].state.startswith("Alarm")
    assert lab.twins["stage"].machine.position[2] >= SAFE_Z - 1e-6
    lab.close()


def test_lost_contact_mid_measurement_stops_everything(lab_factory: Any) -> None:
    # A real-time potentiostat twin: the 2 s pulse train is still running when contact goes.
    lab = lab_factory(_document(time_scale=1.0))
    droplet, pstat = lab.devices["droplet"], lab.devices["potentiostat"]
    injected: list[float] = []

    def lose_contact_during_the_pulse_train() -> None:
        # The contact probes are pulse trains too, of a few cycles: wait for the real one.
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if json.loads(pstat.settings.get() or "{}").get("cycles") == PULSES["cycles"]:
                break
            time.sleep(0.01)
        time.sleep(0.3)
        injected.append(time.monotonic())
        lab.twins["stage"].inject("contact_loss")

    documents: list[tuple[str, dict[str, Any]]] = []
    injector = threading.Thread(target=lose_contact_during_the_pulse_train, daemon=True)
    injector.start()
    with pytest.raises(FailedStatus) as caught:
        lab.RE(_plating(droplet, pstat), lambda name, doc: documents.append((name, doc)))
    injector.join()
    assert injected, "the pulse train never started"
    assert time.monotonic() - injected[0] < 5  # stopped, not run to the end
    # The pulse train fails with the watcher's ContactLost, or — when the dry gap drove the
    # potentiostat to its compliance before the watcher stopped it — with its interlock.
    error = caught.value.args[0].exception()
    assert isinstance(error, ContactLost | InterlockTripped)
    if isinstance(error, ContactLost):
        assert "lost contact" in str(error)
        assert "site (0, 0)" in str(error)
        assert "technique stopped" in str(error)
    else:
        assert "compliance voltage" in str(error)
    deadline = time.monotonic() + 10
    while droplet.phase.get() != "failed" and time.monotonic() < deadline:
        time.sleep(0.02)
    lab.twins["stage"].inject(None)
    # What the cell did about it, in either case.
    fault = droplet.fault.get()
    assert "lost contact" in fault
    assert "technique stopped" in fault
    assert "pump stopped" in fault
    assert "cell lifted" in fault
    assert "site (0, 0) marked failed" in fault
    _assert_safe(lab, Site(0, 0))
    assert pstat.completed.get() == 0  # the pulse train was cut short
    streams = {doc["name"] for name, doc in documents if name == "descriptor"}
    assert "pulse_train" not in streams  # no curve recorded for the cut train
    assert documents[-1][1]["exit_status"] == "fail"


def test_lost_contact_while_a_plan_measures(lab_factory: Any) -> None:
    """Run-engine route: the watcher makes the cell safe by itself; the run fails."""
    lab = lab_factory(_document(time_scale=1.0))
    droplet, pstat = lab.devices["droplet"], lab.devices["potentiostat"]
    timer = threading.Timer(1.0, lambda: lab.twins["stage"].inject("contact_loss"))

    def plan() -> Any:
        yield from bps.open_run()
        yield from bps.mv(droplet, "fresh")
        yield from bps.mv(droplet.flushed, 0.05)
        yield from bps.mv(droplet.landed, 1)
        timer.start()
        yield from measure(pstat, PULSES, stream="pulse_train")
        yield from bps.close_run()

    # The potentiostat either sees the dry gap (compliance) or is stopped by the watcher first.
    with pytest.raises(Exception, match=r"compliance voltage|lost contact with the substrate"):
        lab.RE(plan())
    timer.join()
    deadline = time.monotonic() + 10
    while droplet.phase.get() != "failed" and time.monotonic() < deadline:
        time.sleep(0.02)
    lab.twins["stage"].inject(None)
    assert "lost contact" in droplet.fault.get()
    _assert_safe(lab, Site(0, 0))


def test_contact_lost_between_a_plans_techniques_fails_the_lift(lab_factory: Any) -> None:
    """Chaos found it: contact lost between two techniques of a plan.

    The watch made the cell safe while no technique ran (between the pulse train and the strip),
    the plan measured on a lifted cell, and the run completed.
    """
    lab = lab_factory(_document())
    droplet, pstat = lab.devices["droplet"], lab.devices["potentiostat"]

    def plan() -> Any:
        yield from bps.open_run()
        yield from bps.mv(droplet, "fresh")
        yield from bps.mv(droplet.flushed, 0.05)
        yield from bps.mv(droplet.landed, 1)
        yield from measure(pstat, PULSES, stream="pulse_train")
        lab.twins["stage"].inject("contact_loss")
        deadline = time.monotonic() + 10
        while droplet.phase.get() != "failed" and time.monotonic() < deadline:
            yield from bps.sleep(0.02)
        lab.twins["stage"].inject(None)
        yield from bps.mv(droplet.landed, 0)
        yield from bps.close_run()

    with pytest.raises(FailedStatus) as caught:
        lab.RE(plan())
    cause = caught.value.args[0].exception()
    assert isinstance(cause, ContactLost)
    assert "lift at site (0, 0) failed: the droplet lost contact" in str(cause)
    assert droplet.sites.state(Site(0, 0)) == "failed"
    _assert_safe(lab, Site(0, 0))


def test_lost_contact_while_the_landed_cell_flushes(lab_factory: Any) -> None:
    """The watch fires while the cell's own action runs: a plan tops up the landed head.

    The watch stops the pump at once (the top-up would run on for seconds), the flush fails
    with the lost contact, and the cell is made safe.
    """
    document = _document()
    document["devices"]["pump"]["twin"]["time_scale"] = 1.0  # strokes take their real time
    lab = lab_factory(document)
    droplet, pstat = lab.devices["droplet"], lab.devices["potentiostat"]
    injected: list[float] = []

    def lose_contact_while_flushing_landed() -> None:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if droplet.is_landed and droplet.phase.get() == "flushing":
                break
            time.sleep(0.01)
        time.sleep(0.1)
        injected.append(time.monotonic())
        lab.twins["stage"].inject("contact_loss")

    def plan() -> Any:
        yield from bps.open_run()
        yield from bps.mv(droplet, "fresh")
        yield from bps.mv(droplet.flushed, 0.05)
        yield from bps.mv(droplet.landed, 1)
        yield from bps.mv(droplet.flushed, 0.5)  # ≈ 5 s of pumping through the landed head
        yield from measure(pstat, PULSES, stream="pulse_train")
        yield from bps.close_run()

    injector = threading.Thread(target=lose_contact_while_flushing_landed, daemon=True)
    injector.start()
    error = _failure_of(lab, plan())
    injector.join()
    assert injected, "the landed cell never flushed"
    assert time.monotonic() - injected[0] < 2  # the pump stopped, not flushed to the end
    assert isinstance(error, ContactLost)
    message = str(error)
    assert "flush at site (0, 0) failed: the droplet lost contact" in message
    assert "pump stopped" in message
    assert "cell lifted" in message
    assert "site (0, 0) marked failed" in message
    lab.twins["stage"].inject(None)
    _assert_safe(lab, Site(0, 0))
    assert json.loads(pstat.settings.get())["cycles"] != PULSES["cycles"]  # never pulsed
    # The stopped pump recovers: the cell carries on with the next fresh site.
    lab.RE(_plating(droplet, pstat))
    _assert_safe(lab, Site(0, 1), state="used")


def test_a_move_beyond_the_limits_is_refused_before_anything_moves(lab_factory: Any) -> None:
    document = _document()
    substrate = document["devices"]["droplet"]["options"]["substrate"]
    substrate["origin"] = {"x": "130 mm", "y": "20 mm"}  # columns 4 and 5 lie beyond x = 140 mm
    substrate["name"] = "wide"
    substrate["state_file"] = "droplet/wide.sites.json"
    lab = lab_factory(document)
    droplet, stage = lab.devices["droplet"], lab.devices["stage"]
    before = stage.position
    error = _failure_of(lab, _plating(droplet, lab.devices["potentiostat"], (0, 5)))
    assert isinstance(error, DropletError)
    message = str(error)
    assert "x position" in message
    assert "142.5 mm" in message
    assert "site (0, 5) marked failed" in message
    assert stage.position[:2] == before[:2]  # no lateral motion at all
    _assert_safe(lab, Site(0, 5))
    assert lab.world.substrates["wide"].touched() == []


def test_no_droplet_no_contact_down_to_the_landing_limit(lab_factory: Any) -> None:
    """Without a flush the head is dry: no electrical contact, an error, the cell lifted."""
    document = copy.deepcopy(_document())
    document["devices"]["droplet"]["options"]["flush_volume"] = "0 mL"
    lab = lab_factory(document)
    droplet = lab.devices["droplet"]
    error = _failure_of(lab, _plating(droplet, lab.devices["potentiostat"]))
    assert isinstance(error, DropletError)
    assert "no electrical contact down to the landing limit" in str(error)
    _assert_safe(lab, Site(0, 0))


def test_config_errors_name_the_keys(tmp_path: Path) -> None:
    from labctl.config import load_config
    from labctl.errors import ConfigError
    from labctl.lab.registry import validate_lab_config

    def problems(document: dict[str, Any]) -> str:
        with pytest.raises(ConfigError) as caught:
            validate_lab_config(load_config(write_config(tmp_path, document)))
        return str(caught.value)

    document = _document()
    del document["devices"]["droplet"]["options"]["pump"]
    document["devices"]["droplet"]["twin"]["options"]["preset"] = "copper"
    text = problems(document)
    assert "devices.droplet.options.pump" in text
    assert "devices.droplet.twin.options.preset" in text
    document = _document()
    document["devices"]["droplet"]["options"]["land_limit"] = "9 mm"  # above approach_start
    document["devices"]["droplet"]["limits"] = {"z": {"low": "0 mm"}}
    text = problems(document)
    assert "land_limit < approach_start" in text
    assert "devices.droplet.limits.z" in text
