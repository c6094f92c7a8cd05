"""Ask/tell fronts: pending and failed experiments, rebuilding, registry, campaign configs."""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pytest
import torch
from botorch.test_functions.multi_objective import BraninCurrin

from labctl.config import CampaignSection
from labctl.errors import ConfigError
from labctl.optimizers import registry
from labctl.optimizers.base import AskTellOptimizer
from labctl.optimizers.botorch_mo import BotorchMultiObjective
from labctl.optimizers.errors import InputError
from labctl.optimizers.skopt_gp import SkoptOptimizer
from labctl.optimizers.sobol import SobolOptimizer

SPACE: dict[str, Any] = {
    "salt_molality": {"low": "0.5 mol/kg", "high": "2 mol/kg"},
    "temperature": {"low": "283 K", "high": "323 K"},
    "solvent": {"mixture": ["ec", "emc", "dmc"]},
    "constraints": ["ec + dmc <= 0.9"],
}
OBJECTIVES: dict[str, Any] = {
    "conductivity": {"direction": "maximize", "units": "mS/cm"},
    "cost": {"direction": "minimize", "units": "USD/kg"},
}
# Small settings so each BoTorch suggestion takes a fraction of a second.
FAST: dict[str, Any] = {"num_restarts": 2, "raw_samples": 32, "mc_samples": 16}
KINDS: list[tuple[type[AskTellOptimizer], dict[str, Any]]] = [
    (BotorchMultiObjective, FAST),
    (BotorchMultiObjective, {**FAST, "acquisition": "qnparego"}),
    (SobolOptimizer, {}),
    (SkoptOptimizer, {"acquisition_points": 200}),
]
IDS = ["qlognehvi", "qnparego", "sobol", "skopt"]


def outcome(setting: dict[str, Any]) -> dict[str, float]:
    """An analytic stand-in for the electrolyte (only for exercising the loop)."""
    m = setting["salt_molality"].to("mol/kg").magnitude
    t = setting["temperature"].to("K").magnitude
    ec, dmc = setting["ec"].magnitude, setting["dmc"].magnitude
    conductivity = 10 * m * np.exp(1 - m) * (1 + 0.02 * (t - 298)) * (0.5 + ec * (1 - ec) + dmc)
    cost = 5 + 20 * m + 10 * ec
    return {"conductivity": float(conductivity), "cost": float(cost)}


def warmed(cls: type[AskTellOptimizer], options: dict[str, Any], n: int = 8) -> Any:
    optimizer = cls(SPACE, OBJECTIVES, seed=4, initial_experiments=5, **options)
    settings = SobolOptimizer(SPACE, OBJECTIVES, seed=9).ask(n)
    optimizer.tell(settings, [outcome(setting) for setting in settings])
    return optimizer


def as_rows(optimizer: AskTellOptimizer, settings: list[dict[str, Any]]) -> np.ndarray:
    return optimizer.space.encode_many(settings)


@pytest.mark.parametrize(("cls", "options"), KINDS, ids=IDS)
def test_pending_gives_distinct_suggestions(
    cls: type[AskTellOptimizer], options: dict[str, Any]
) -> None:
    optimizer = warmed(cls, options)
    first = optimizer.ask(4)
    second = optimizer.ask(4, pending=first)
    rows = as_rows(optimizer, first + second)
    distances = np.abs(rows[:, None, :] - rows[None, :, :]).max(axis=-1)
    assert (distances[~np.eye(8, dtype=bool)] > 1e-6).all()
    assert optimizer.space.violation(rows).max() <= 1e-9


@pytest.mark.parametrize(("cls", "options"), KINDS, ids=IDS)
def test_rebuilt_from_data_suggests_the_same(
    cls: type[AskTellOptimizer], options: dict[str, Any]
) -> None:
    original = warmed(cls, options)
    original.tell(original.ask(1), [None])  # a failed experiment is part of the history
    table = original.to_dataframe()
    rebuilt = cls.from_data(table, SPACE, OBJECTIVES, seed=4, initial_experiments=5, **options)
    expected = as_rows(original, original.ask(1))
    assert np.allclose(as_rows(rebuilt, rebuilt.ask(1)), expected, atol=1e-12)
    state = json.loads(json.dumps(original.state()))
    restored = AskTellOptimizer.from_state(state)
    assert type(restored) is cls
    assert np.allclose(as_rows(restored, restored.ask(1)), expected, atol=1e-12)


def test_failed_experiments_are_not_modelled_nor_suggested_again() -> None:
    optimizer = warmed(BotorchMultiObjective, FAST)
    failed = optimizer.ask(1)
    optimizer.tell(failed, [None])
    _, Y = optimizer.observations
    assert np.isnan(Y[-1]).all()
    follow = optimizer.ask(3)
    rows = as_rows(optimizer, follow)
    assert (np.abs(rows - as_rows(optimizer, failed)).max(axis=1) > 1e-6).all()


def test_initial_design_then_model() -> None:
    optimizer = BotorchMultiObjective(SPACE, OBJECTIVES, seed=1, **FAST)
    assert optimizer.initial_experiments == 2 * (4 + 1)  # molality, temperature, two sticks
    sobol = SobolOptimizer(SPACE, OBJECTIVES, seed=1)
    assert np.array_equal(as_rows(sobol, optimizer.ask(3)), as_rows(sobol, sobol.ask(3)))


def test_ask_async_runs_off_the_caller_thread() -> None:
    optimizer = warmed(BotorchMultiObjective, FAST)
    try:
        future = optimizer.ask_async(2)
        suggestions = future.result(timeout=60)
    finally:
        optimizer.close()
    assert len(suggestions) == 2


def test_botorch_sets_one_torch_thread() -> None:
    optimizer = warmed(BotorchMultiObjective, FAST)
    previous = torch.get_num_threads()
    try:
        optimizer.ask(1)
        assert torch.get_num_threads() == 1
    finally:
        torch.set_num_threads(previous)


def test_bad_inputs_are_refused() -> None:
    optimizer = SobolOptimizer(SPACE, OBJECTIVES)
    good = optimizer.ask(1)[0]
    with pytest.raises(InputError, match="no value for 'temperature'"):
        optimizer.tell([{k: v for k, v in good.items() if k != "temperature"}], [None])
    with pytest.raises(InputError, match="cannot be expressed in"):
        optimizer.tell([{**good, "temperature": "3 m"}], [None])
    with pytest.raises(InputError, match="sum to"):
        optimizer.tell([{**good, "ec": 0.9, "emc": 0.9}], [None])
    with pytest.raises(ConfigError, match="num_restarts"):
        BotorchMultiObjective(SPACE, OBJECTIVES, num_restarts=0)
    with pytest.raises(ConfigError, match="Extra inputs"):
        SobolOptimizer(SPACE, OBJECTIVES, restarts=3)


def test_registry_names_and_duplicates() -> None:
    assert registry.get("botorch-mo") is BotorchMultiObjective
    assert registry.get("sobol") is SobolOptimizer
    assert registry.get("skopt-gp") is SkoptOptimizer
    assert {"botorch-mo", "sobol", "skopt-gp"} <= set(registry.kinds())
    with pytest.raises(registry.DuplicateOptimizerError, match="claimed by both"):
        registry.register("sobol")(type("Impostor", (SobolOptimizer,), {}))
    with pytest.raises(KeyError, match="unknown optimizer"):
        registry.get("oracle")


def campaign(**changes: Any) -> CampaignSection:
    section: dict[str, Any] = {
        "name": "electrolyte",
        "experiment": "electrolyte",
        "space": SPACE,
        "objectives": OBJECTIVES,
        "optimizer": {"kind": "botorch-mo", "seed": 3, "options": FAST},
        "budget": {"experiments": 10},
    }
    section.update(changes)
    return CampaignSection.model_validate(section)


def test_from_campaign_and_check_campaign() -> None:
    optimizer = BotorchMultiObjective.from_campaign(campaign())
    assert optimizer.seed == 3
    assert optimizer.options.num_restarts == 2
    assert BotorchMultiObjective.check_campaign(campaign()) == []
    bad = campaign(
        space={"x": {"low": 1, "high": 0}},
        objectives={"y": {"direction": "maximize"}, "constraints": ["z >= 1"]},
        optimizer={"kind": "botorch-mo", "options": {"acquisition": "ucb"}},
    )
    paths = [issue.key_path for issue in BotorchMultiObjective.check_campaign(bad)]
    assert paths == [
        "campaign.space.x",
        "campaign.objectives.constraints[0]",
        "campaign.optimizer.options.acquisition",
    ]
    with pytest.raises(ConfigError):
        BotorchMultiObjective.from_campaign(bad)


def test_progress_reference_and_front() -> None:
    optimizer = warmed(SobolOptimizer, {}, n=12)
    reference, inferred = optimizer.reference_point()
    assert inferred
    assert set(reference) == {"conductivity", "cost"}
    assert optimizer.progress() > 0
    front = optimizer.pareto_front()
    assert front
    assert all(set(values) == {"conductivity", "cost"} for _, values in front)


def test_branin_currin_smoke_botorch_beats_sobol() -> None:
    """A small version of the benchmark: 6 Sobol points, then 8 BoTorch suggestions."""
    problem = BraninCurrin()
    space = {"x0": {"low": 0, "high": 1}, "x1": {"low": 0, "high": 1}}
    objectives = {
        "branin": {"direction": "minimize", "reference": 18.0},
        "currin": {"direction": "minimize", "reference": 6.0},
    }
    results = {}
    for cls, options in ((BotorchMultiObjective, FAST), (SobolOptimizer, {})):
        optimizer = cls(space, objectives, seed=0, **options)
        for _ in range(14):
            (setting,) = optimizer.ask(1)
            x = torch.tensor([[setting["x0"].magnitude, setting["x1"].magnitude]])
            branin, currin = problem(x)[0].tolist()
            optimizer.tell([setting], [{"branin": branin, "currin": currin}])
        results[cls.kind] = optimizer.progress()
    assert results["botorch-mo"] > results["sobol"]


def test_large_campaigns_fit_a_bounded_subset_that_keeps_the_front() -> None:
    from labctl.optimizers.botorch_mo import model_subset
    from labctl.optimizers.objectives import Objectives
    from labctl.optimizers.pareto import non_dominated

    objectives = Objectives({"a": {"direction": "maximize"}, "b": {"direction": "minimize"}})
    rng = np.random.default_rng(0)
    Y = rng.normal(size=(300, 2))
    chosen = model_subset(objectives, Y, 50, seed=3)
    assert len(chosen) == 50
    assert len(set(chosen.tolist())) == 50
    front = set(np.flatnonzero(non_dominated(objectives.maximization(Y))).tolist())
    assert front <= set(chosen.tolist())
    assert 299 in chosen  # the most recent experiments are kept
    assert (model_subset(objectives, Y, 50, seed=3) == chosen).all()  # reproducible
    assert len(model_subset(objectives, Y[:40], 50, seed=3)) == 40


def test_a_bounded_model_still_suggests_feasibly_and_new() -> None:
    space = {"x0": {"low": 0, "high": 1}, "x1": {"low": 0, "high": 1}}
    objectives = {"f": {"direction": "maximize"}, "g": {"direction": "maximize"}}
    optimizer = BotorchMultiObjective(
        space, objectives, seed=1, max_model_points=12, **{**FAST, "initial_experiments": 4}
    )
    rng = np.random.default_rng(1)
    settings = [{"x0": float(a), "x1": float(b)} for a, b in rng.uniform(size=(30, 2))]
    optimizer.tell(settings, [{"f": s["x0"], "g": 1 - s["x0"] * s["x1"]} for s in settings])
    (suggestion,) = optimizer.ask(1)
    assert 0 <= suggestion["x0"].magnitude <= 1
    known = {(round(s["x0"], 9), round(s["x1"], 9)) for s in settings}
    assert (
        round(suggestion["x0"].magnitude, 9),
        round(suggestion["x1"].magnitude, 9),
    ) not in known


def test_bluesky_adaptive_verbs_wrap_any_optimizer() -> None:
    from labctl.optimizers.adaptive import AdaptiveRecommender

    space = {
        "solvent": {"mixture": {"EC": {"low": 0, "high": 0.6}, "DMC": {}}},
        "salt_molality": {"low": "0.5 mol/kg", "high": "1.5 mol/kg"},
    }
    objectives = {"kappa": {"direction": "maximize", "units": "mS/cm"}}
    agent = AdaptiveRecommender(SobolOptimizer(space, objectives, seed=2))
    assert agent.input_names == ["EC", "DMC", "salt_molality"]
    first = agent.ask(2)  # pending until told
    second = agent.ask(2)
    points = [tuple(round(v, 12) for v in p) for p in first + second]
    assert len(set(points)) == 4
    for ec, dmc, molality in first + second:
        assert abs(ec + dmc - 1) < 1e-9
        assert 0.5 <= molality <= 1.5  # in the parameter's unit, mol/kg
    agent.tell(first[0], [7.5])
    agent.tell_many(first[1:], [None])
    assert len(agent._pending) == 2
    X, Y = agent.optimizer.observations
    assert len(X) == 2
    assert np.isnan(Y[1]).all()
    with pytest.raises(InputError, match="expected 3"):
        agent.tell([0.5, 0.5], [1.0])
