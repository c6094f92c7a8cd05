"""The campaign loop on a toy experiment: budgets, pending proposals, failures, resume."""

from __future__ import annotations

import threading
from collections.abc import Mapping
from typing import Any

import bluesky.plan_stubs as bps
import bluesky.preprocessors as bpp
import pytest
from ophyd import Signal
from ophyd.status import Status

from labctl.devices.dispensing.robot import DispenseError
from labctl.devices.droplet.errors import ContactLost, StageAlarmed
from labctl.devices.potentiostat.interlocks import InterlockTripped
from labctl.errors import INTERLOCKS, DeviceTimeout, InterlockError
from labctl.plans.campaign import campaign
from labctl.plans.records import (
    Budget,
    CampaignState,
    CampaignStopped,
    ExperimentRecord,
    FailurePolicy,
)
from labctl.testing.toy_campaign import (
    RandomRecommender,
    detector,
    motor,
    move_and_count,
    peak_height,
)


@pytest.fixture
def run_engine() -> Any:
    """A RunEngine returning the plan's result (the campaign state)."""
    from bluesky import RunEngine

    engine = RunEngine({}, call_returns_result=True)
    yield engine
    if engine.state != "idle":
        engine.halt()


def run(engine: Any, plan: Any) -> Any:
    return engine(plan).plan_result


def test_runs_the_budget_one_run_per_experiment(run_engine: Any) -> None:
    starts: list[dict[str, Any]] = []
    run_engine.subscribe(lambda name, doc: starts.append(doc) if name == "start" else None)
    recommender = RandomRecommender()
    state = run(
        run_engine,
        campaign(recommender, move_and_count, peak_height, campaign_id="c1", budget=Budget(5)),
    )
    assert isinstance(state, CampaignState)
    assert len(state.completed) == 5
    assert state.stop_reason == "budget of 5 experiments spent"
    assert [start["iteration"] for start in starts] == [0, 1, 2, 3, 4]
    assert {start["campaign"] for start in starts} == {"c1"}
    assert starts[0]["inputs"]["position"] == pytest.approx(state.records[0].inputs["position"])
    assert len(recommender.told) == 5
    # Every proposal after the first was computed with the running experiment pending.
    assert recommender.asked_pending[0] == []
    assert all(len(pending) == 1 for pending in recommender.asked_pending[1:])


def test_the_recommender_thinks_while_the_hardware_works(run_engine: Any) -> None:
    """With thinking shorter than an experiment, the hardware never waits after the first ask."""

    def slow_experiment(inputs: Mapping[str, Any], metadata: Mapping[str, Any]) -> Any:
        @bpp.run_decorator(md=dict(metadata))
        def inner() -> Any:
            yield from bps.sleep(0.3)
            yield from bps.mv(motor, inputs["position"])
            yield from bps.trigger_and_read([detector])

        return (yield from inner())

    recommender = RandomRecommender(think=0.1)
    state = run(
        run_engine,
        campaign(recommender, slow_experiment, peak_height, campaign_id="c", budget=Budget(4)),
    )
    idle = [record.idle for record in state.records]
    assert idle[0] >= 0.09  # the very first proposal has nothing to overlap with
    assert max(idle[1:]) < 0.05

    # The synchronous loop, for comparison, makes the hardware wait for every proposal.
    waiting = RandomRecommender(think=0.1)
    state = run(
        run_engine,
        campaign(
            waiting,
            slow_experiment,
            peak_height,
            campaign_id="s",
            budget=Budget(3),
            synchronous=True,
        ),
    )
    assert all(record.idle >= 0.09 for record in state.records)
    assert all(pending == [] for pending in waiting.asked_pending)


def test_a_failed_experiment_is_retried_once_then_skipped(run_engine: Any) -> None:
    calls: list[int] = []

    def flaky(inputs: Mapping[str, Any], metadata: Mapping[str, Any]) -> Any:
        calls.append(metadata["iteration"])

        @bpp.run_decorator(md=dict(metadata))
        def inner() -> Any:
            if metadata["iteration"] == 1:
                raise DeviceTimeout("pump", "socket://127.0.0.1:1", "no reply within 1 s")
            yield from bps.trigger_and_read([detector])

        return (yield from inner())

    recommender = RandomRecommender()
    state = run(
        run_engine, campaign(recommender, flaky, peak_height, campaign_id="f", budget=Budget(3))
    )
    assert calls == [0, 1, 1, 2]
    failed = [record for record in state.records if record.status == "failed"]
    assert [(record.iteration, record.attempt) for record in failed] == [(1, 1), (1, 2)]
    assert "no reply within 1 s" in (failed[0].reason or "")
    assert failed[0].uid is not None  # the run was opened and closed as failed
    assert len(state.completed) == 2
    assert [outcome for _, outcome in recommender.told][1] is None


def test_too_many_failures_in_a_row_stop_the_campaign(run_engine: Any) -> None:
    def broken(inputs: Mapping[str, Any], metadata: Mapping[str, Any]) -> Any:
        @bpp.run_decorator(md=dict(metadata))
        def inner() -> Any:
            raise DeviceTimeout("potentiostat", "socket://127.0.0.1:1", "silent")
            yield from bps.null()

        return (yield from inner())

    with pytest.raises(CampaignStopped, match="3 failed attempts in a row"):
        run_engine(
            campaign(
                RandomRecommender(),
                broken,
                peak_height,
                campaign_id="b",
                budget=Budget(10),
                failure_policy=FailurePolicy(retry="skip", max_consecutive=3),
            )
        )


def test_patience_stops_when_progress_stalls(run_engine: Any) -> None:
    state = run(
        run_engine,
        campaign(
            RandomRecommender(),
            move_and_count,
            peak_height,
            campaign_id="p",
            budget=Budget(50, patience=3),
            progress=lambda _state: 1.0,  # never improves after the first
        ),
    )
    assert state.stop_reason == "no improvement in 3 experiments"
    assert len(state.completed) == 4


def test_bad_budgets_are_refused() -> None:
    with pytest.raises(ValueError, match="at least one experiment"):
        Budget(0)
    with pytest.raises(ValueError, match="wall time"):
        Budget(3, wall_time=0)


def test_an_interrupted_experiment_is_retried_first_on_resume(run_engine: Any) -> None:
    """A crash left iteration 1 without a stop document: the resumed campaign retries it once."""
    history = [
        ExperimentRecord(0, 1, {"position": 0.1}, "completed", outcome={"signal": 0.9}),
        ExperimentRecord(1, 1, {"position": 0.5}, "interrupted", reason="no stop document"),
    ]
    recommender = RandomRecommender()
    state = run(
        run_engine,
        campaign(
            recommender,
            move_and_count,
            peak_height,
            campaign_id="r",
            budget=Budget(3),
            history=history,
        ),
    )
    assert recommender.told[0] == ({"position": 0.1}, {"signal": 0.9})
    assert state.proposals_done == 3
    new = state.records[len(history) :]
    assert [(r.iteration, r.attempt, r.status) for r in new] == [
        (1, 2, "completed"),
        (2, 1, "completed"),
    ]
    assert new[0].inputs == {"position": 0.5}
    # The recommender learned the history's completed one, then the retry's outcome.
    assert [inputs for inputs, _ in recommender.told][:2] == [{"position": 0.1}, {"position": 0.5}]


def test_an_interrupted_experiment_is_not_retried_when_the_lab_has_nothing_left(
    run_engine: Any,
) -> None:
    """A resumed campaign whose substrate is used up stops with that reason, runs nothing."""
    history = [
        ExperimentRecord(0, 1, {"position": 0.1}, "completed", outcome={"signal": 0.9}),
        ExperimentRecord(1, 1, {"position": 0.5}, "interrupted", reason="no stop document"),
    ]
    state = run(
        run_engine,
        campaign(
            RandomRecommender(),
            move_and_count,
            peak_height,
            campaign_id="empty",
            budget=Budget(3, resources=lambda: "substrate exhausted: no fresh site left"),
            history=history,
        ),
    )
    assert state.records == history
    assert state.stop_reason == "substrate exhausted: no fresh site left"


def test_an_interrupted_retry_or_a_skip_policy_is_not_retried(run_engine: Any) -> None:
    history = [
        ExperimentRecord(0, 1, {"position": 0.1}, "failed", reason="timeout"),
        ExperimentRecord(0, 2, {"position": 0.1}, "interrupted", reason="no stop document"),
    ]
    state = run(
        run_engine,
        campaign(
            RandomRecommender(),
            move_and_count,
            peak_height,
            campaign_id="n",
            budget=Budget(2),
            history=history,
        ),
    )
    assert [(r.iteration, r.attempt) for r in state.records[2:]] == [(1, 1)]
    skipping = run(
        run_engine,
        campaign(
            RandomRecommender(),
            move_and_count,
            peak_height,
            campaign_id="s",
            budget=Budget(2),
            history=history[1:2],
            failure_policy=FailurePolicy(retry="skip"),
        ),
    )
    assert [(r.iteration, r.attempt) for r in skipping.records[1:]] == [(1, 1)]


def test_a_suspender_tripping_mid_experiment_rewinds_into_the_run(run_engine: Any) -> None:
    """Experiments without checkpoints of their own still survive a suspension and rewind."""
    import functools
    import threading
    import time

    from bluesky.suspenders import SuspendBoolHigh
    from ophyd import Signal

    leak = Signal(name="leak", value=0)
    run_engine.install_suspender(SuspendBoolHigh(leak, sleep=0.1))
    slow = functools.partial(move_and_count, dwell=0.4)

    def trip() -> None:
        time.sleep(0.6)  # inside the second experiment's dwell
        leak.put(1)
        time.sleep(0.3)
        leak.put(0)

    tripper = threading.Thread(target=trip)
    tripper.start()
    state = run(
        run_engine,
        campaign(RandomRecommender(), slow, peak_height, campaign_id="z", budget=Budget(3)),
    )
    tripper.join()
    assert [(r.iteration, r.status) for r in state.records] == [
        (0, "completed"),
        (1, "completed"),
        (2, "completed"),
    ]


def test_a_suspension_right_after_a_failed_experiment_does_not_replay_its_readings(
    run_engine: Any,
) -> None:
    import threading

    from bluesky.suspenders import SuspendBoolHigh
    from ophyd import Signal

    leak = Signal(name="leak", value=0)
    run_engine.install_suspender(SuspendBoolHigh(leak, sleep=0.1))

    def fails_then_leaks(inputs: Mapping[str, Any], metadata: Mapping[str, Any]) -> Any:
        @bpp.run_decorator(md=dict(metadata))
        def inner() -> Any:
            yield from bps.create()
            yield from bps.read(detector)
            if metadata["iteration"] == 0 and metadata["attempt"] == 1:
                # The glovebox leaks just as the instrument times out: the suspension comes
                # between this failed run and the next one.
                leak.put(1)
                threading.Timer(0.3, lambda: leak.put(0)).start()
                raise DeviceTimeout("pump", "socket://127.0.0.1:1", "no reply within 1 s")
            yield from bps.save()

        return (yield from inner())

    state = run(
        run_engine,
        campaign(
            RandomRecommender(), fails_then_leaks, peak_height, campaign_id="q", budget=Budget(2)
        ),
    )
    assert [(r.iteration, r.attempt, r.status) for r in state.records] == [
        (0, 1, "failed"),
        (0, 2, "completed"),
        (1, 1, "completed"),
    ]


class _Tripping(Signal):  # type: ignore[misc]
    """A device whose trigger fails the way a real one's does: a Status failed by an interlock."""

    def trigger(self) -> Status:
        status = Status(obj=self)
        status.set_exception(
            DispenseError("robot", "V01", "salt", expected=0.5, measured=0.1)  # a clog
        )
        return status


def _tripping_experiment(calls: list[int]) -> Any:
    tripping = _Tripping(name="robot")

    def experiment(inputs: Mapping[str, Any], metadata: Mapping[str, Any]) -> Any:
        calls.append(metadata["iteration"])

        @bpp.run_decorator(md=dict(metadata))
        def inner() -> Any:
            if metadata["iteration"] == 1:
                yield from bps.trigger(tripping, wait=True)
            yield from bps.trigger_and_read([detector])

        return (yield from inner())

    return experiment


class _FailingLater(Signal):  # type: ignore[misc]
    """A device whose set returns at once and fails 0.2 s later (a pump's move going on)."""

    def set(self, value: Any, **kwargs: Any) -> Status:  # noqa: ARG002 — ophyd's signature
        status = Status(obj=self)
        error = DeviceTimeout("pump", "socket://127.0.0.1:1", "no reply in 1 s", sent=b"/1Q\r")
        threading.Timer(0.2, status.set_exception, args=(error,)).start()
        return status


def _failing_after_its_run(pause_after: float) -> Any:
    """An experiment whose iteration 1 starts a move it never waits for (failing 0.2 s later)."""
    pump = _FailingLater(name="pump")

    def experiment(inputs: Mapping[str, Any], metadata: Mapping[str, Any]) -> Any:
        @bpp.run_decorator(md=dict(metadata))
        def inner() -> Any:
            if metadata["iteration"] == 1:
                yield from bps.abs_set(pump, 1.0, wait=False)
            yield from bps.trigger_and_read([detector])

        uid = yield from inner()
        if pause_after:
            yield from bps.sleep(pause_after)  # the run has already stopped
        return uid

    return experiment


def test_a_device_failing_after_the_run_finished_counts_as_the_store_says(
    run_engine: Any, caplog: pytest.LogCaptureFixture
) -> None:
    """A background Status's failure is thrown into the next message, after the run."""
    stops: list[dict[str, Any]] = []
    run_engine.subscribe(lambda name, doc: stops.append(doc) if name == "stop" else None)
    experiment = _failing_after_its_run(pause_after=0.5)  # the failure arrives in the pause
    state = run(
        run_engine,
        campaign(RandomRecommender(), experiment, peak_height, campaign_id="c", budget=Budget(3)),
    )
    assert [stop["exit_status"] for stop in stops] == ["success"] * 3
    assert [(r.iteration, r.status) for r in state.records] == [(i, "completed") for i in range(3)]
    assert "iteration 1 attempt 1 finished before a device failed: DeviceTimeout" in caplog.text


def test_a_device_failing_while_the_campaign_waits_for_a_proposal_does_not_end_it(
    run_engine: Any, caplog: pytest.LogCaptureFixture
) -> None:
    """Chaos ended a whole campaign on a failure thrown into the wait for the next proposal."""
    thinking = RandomRecommender(think=0.6)  # the failure arrives while the campaign waits
    experiment = _failing_after_its_run(pause_after=0.0)
    state = run(
        run_engine,
        campaign(thinking, experiment, peak_height, campaign_id="w", budget=Budget(3)),
    )
    assert [(r.iteration, r.status) for r in state.records] == [(i, "completed") for i in range(3)]
    assert "campaign w: a device failed between experiments: DeviceTimeout" in caplog.text


def test_an_interlock_listed_in_stop_on_stops_the_campaign_without_a_retry(
    run_engine: Any,
) -> None:
    calls: list[int] = []
    records: list[ExperimentRecord] = []
    with pytest.raises(CampaignStopped, match="interlock gravimetric_mismatch tripped") as caught:
        run_engine(
            campaign(
                RandomRecommender(),
                _tripping_experiment(calls),
                peak_height,
                campaign_id="clog",
                budget=Budget(5),
                failure_policy=FailurePolicy(stop_on=frozenset({"gravimetric_mismatch"})),
                on_record=lambda record, _state: records.append(record),
            )
        )
    assert calls == [0, 1]  # no retry of the clogged preparation, nothing after it
    assert "labctl resume clog" in str(caught.value)
    assert "expected 0.5000 g" in str(caught.value)
    failed = records[-1]
    assert (failed.status, failed.interlock, failed.iteration) == (
        "failed",
        "gravimetric_mismatch",
        1,
    )


def test_an_interlock_not_listed_is_retried_and_skipped_per_policy(run_engine: Any) -> None:
    calls: list[int] = []
    state = run(
        run_engine,
        campaign(
            RandomRecommender(),
            _tripping_experiment(calls),
            peak_height,
            campaign_id="short",
            budget=Budget(3),
            failure_policy=FailurePolicy(stop_on=frozenset({"short_circuit"})),
        ),
    )
    assert calls == [0, 1, 1, 2]
    assert [r.interlock for r in state.records if r.status == "failed"] == [
        "gravimetric_mismatch",
        "gravimetric_mismatch",
    ]
    assert all(r.interlock is None for r in state.records if r.status == "completed")


def test_every_interlock_name_is_accepted_by_the_config() -> None:
    from typing import get_args

    from labctl.config import InterlockName

    assert get_args(InterlockName) == INTERLOCKS
    assert issubclass(InterlockTripped, InterlockError)
    assert ContactLost.interlock == "contact_lost"
    assert StageAlarmed.interlock == "stage_alarm"
    assert DispenseError.interlock == "gravimetric_mismatch"
