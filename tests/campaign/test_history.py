"""Campaigns read back from the store: history for resume, listing with statuses."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from bluesky import RunEngine

from labctl.campaign.history import campaign_history, decode_inputs, list_campaigns
from labctl.plans.campaign import campaign
from labctl.plans.records import Budget
from labctl.store.catalog import Store
from labctl.testing.store import prepare_store
from labctl.testing.toy_campaign import RandomRecommender, move_and_count, peak_height
from labctl.units import ureg


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    with Store.embedded(prepare_store(tmp_path / "tiled")) as opened:
        yield opened


def _engine(store: Store) -> RunEngine:
    engine = RunEngine({}, call_returns_result=True)
    engine.subscribe(store.writer())
    return engine


def _interrupted_run(store: Store, campaign_id: str, iteration: int) -> str:
    """What a kill -9 mid-experiment leaves: a start document and no stop."""
    writer = store.writer()
    uid = str(uuid.uuid4())
    writer(
        "start",
        {
            "uid": uid,
            "time": time.time(),
            "campaign": campaign_id,
            "iteration": iteration,
            "attempt": 1,
            "inputs": {"position": 0.25},
        },
    )
    return uid


def test_history_resume_repeats_nothing(store: Store) -> None:
    engine = _engine(store)
    first = engine(
        campaign(
            RandomRecommender(seed=1),
            move_and_count,
            peak_height,
            campaign_id="c-resume",
            budget=Budget(3),
        )
    ).plan_result
    _interrupted_run(store, "c-resume", iteration=3)
    history = campaign_history(store, "c-resume", peak_height)
    assert [record.status for record in history] == ["completed"] * 3 + ["interrupted"]
    assert [record.outcome for record in history[:3]] == [
        record.outcome for record in first.completed
    ]

    recommender = RandomRecommender(seed=2)
    resumed = engine(
        campaign(
            recommender,
            move_and_count,
            peak_height,
            campaign_id="c-resume",
            budget=Budget(6),
            history=history,
        )
    ).plan_result
    # History told first, then the retry of the interrupted iteration 3, then two new ones.
    assert len(recommender.told) == 3 + 1 + 2
    final = campaign_history(store, "c-resume", peak_height)
    iterations = [record.iteration for record in final if record.status == "completed"]
    assert iterations == [0, 1, 2, 3, 4, 5]  # nothing completed is repeated
    assert [(r.attempt, r.status) for r in final if r.iteration == 3] == [
        (1, "interrupted"),
        (2, "completed"),
    ]
    assert resumed.proposals_done == 6


def test_listing_counts_statuses(store: Store) -> None:
    engine = _engine(store)
    engine(
        campaign(
            RandomRecommender(), move_and_count, peak_height, campaign_id="a", budget=Budget(2)
        )
    )
    _interrupted_run(store, "b", 0)
    listing = {summary.campaign: summary for summary in list_campaigns(store)}
    assert listing["a"].completed == 2
    assert listing["a"].interrupted == 0
    assert listing["b"].interrupted == 1


def test_inputs_with_units_come_back_as_quantities() -> None:
    decoded: dict[str, Any] = decode_inputs(
        {
            "molality": {"value": 1.2, "units": "mol/kg"},
            "salt": "LiPF6",
            "x": {"value": 2, "units": "1"},
        }
    )
    assert decoded["molality"] == ureg.Quantity(1.2, "mol/kg")
    assert decoded["salt"] == "LiPF6"
    assert decoded["x"].dimensionless


def test_cli_lists_campaigns(sim_lab_config: Path) -> None:
    from typer.testing import CliRunner

    from labctl.cli import app
    from labctl.config import load_config

    with Store.for_config(load_config(sim_lab_config)) as opened:
        _interrupted_run(opened, "night-run", 0)
    result = CliRunner().invoke(app, ["campaigns", str(sim_lab_config)])
    assert result.exit_code == 0, result.output
    assert "night-run" in result.output
