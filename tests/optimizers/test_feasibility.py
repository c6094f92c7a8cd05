"""Property: every suggestion of every optimizer meets bounds, mixture sums and constraints.

Random spaces (continuous with units, log scale, integers, categoricals, a mixture with random
member bounds, linear constraints on continuous parameters and on mixture members), random
told data (some failed) and random pending settings.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, Phase, assume, given, settings
from hypothesis import strategies as st

from labctl.errors import ConfigError
from labctl.optimizers.base import AskTellOptimizer
from labctl.optimizers.botorch_mo import BotorchMultiObjective
from labctl.optimizers.skopt_gp import SkoptOptimizer
from labctl.optimizers.sobol import SobolOptimizer
from labctl.optimizers.space import SearchSpace
from labctl.units import ureg

OBJECTIVES = {"yield_": {"direction": "maximize"}, "loss": {"direction": "minimize"}}
OPTIMIZERS: list[tuple[type[AskTellOptimizer], dict[str, Any]]] = [
    (BotorchMultiObjective, {"num_restarts": 2, "raw_samples": 16, "mc_samples": 8}),
    (SobolOptimizer, {}),
    (SkoptOptimizer, {"acquisition_points": 100}),
]


@st.composite
def spaces(draw: st.DrawFn) -> dict[str, Any]:
    config: dict[str, Any] = {}
    constraints: list[str] = []
    for i in range(draw(st.integers(1, 3))):
        low = draw(st.floats(0.1, 10))
        width = draw(st.floats(0.1, 10))
        log = draw(st.booleans()) and i > 0
        config[f"x{i}"] = {"low": f"{low} ms", "high": f"{low + width} ms", "log": log}
    if draw(st.booleans()):
        config["count"] = {"type": "integer", "low": 0, "high": draw(st.integers(1, 6))}
    if draw(st.booleans()):
        config["salt"] = {"choices": ["LiPF6", "LiFSI", "LiTFSI"][: draw(st.integers(2, 3))]}
    if draw(st.booleans()):
        k = draw(st.integers(2, 4))
        lows = [draw(st.sampled_from([0.0, 0.05, 0.1])) for _ in range(k)]
        highs = [draw(st.sampled_from([0.5, 0.8, 1.0])) for _ in range(k)]
        config["blend"] = {
            "mixture": {f"m{j}": {"low": lows[j], "high": highs[j]} for j in range(k)}
        }
        if draw(st.booleans()):
            constraints.append(f"m0 + m1 <= {draw(st.sampled_from([0.6, 0.9]))}")
    if "log" in config["x0"] and draw(st.booleans()):
        linear = [
            name for name, spec in config.items() if name.startswith("x") and not spec["log"]
        ]
        if linear:
            constraints.append(f"{linear[0]} <= {draw(st.floats(0.5, 12))} ms")
        if len(linear) > 1:
            constraints.append(f"{linear[1]} >= 0.5 * {linear[0]}")
    if constraints:
        config["constraints"] = constraints
    return config


def check(space: SearchSpace, suggestions: list[dict[str, Any]]) -> None:
    rows = space.encode_many(suggestions)
    assert space.violation(rows).max() <= 1e-9
    for setting in suggestions:
        for name, spec in space.specs.items():
            if spec.type == "continuous":
                low, high, units = spec.bounds()
                value = setting[name].to(units).magnitude
                assert low - 1e-9 <= value <= high + 1e-9
            elif spec.type == "mixture":
                fractions = [setting[member].magnitude for member in spec.mixture]
                assert abs(sum(fractions) - 1.0) <= 1e-9
                for member, value in zip(spec.mixture, fractions, strict=True):
                    bounds = spec.mixture[member]
                    assert bounds.low - 1e-9 <= value <= bounds.high + 1e-9
            elif spec.type == "integer":
                assert setting[name].magnitude in range(spec.low, spec.high + 1)
            elif spec.type == "categorical":
                assert setting[name] in spec.choices
        for text in space.constraint_texts:
            left, right = text.split(" <= ") if " <= " in text else text.split(" >= ")[::-1]
            assert evaluate(left, setting) <= evaluate(right, setting) + 1e-9


def evaluate(side: str, setting: dict[str, Any]) -> float:
    total = 0.0
    for term in side.split(" + "):
        parts = term.split(" * ")
        coefficient, name = (float(parts[0]), parts[1]) if len(parts) == 2 else (1.0, parts[0])
        if name in setting:
            total += coefficient * float(setting[name].to("ms" if name.startswith("x") else "").m)
        else:
            total += float(ureg.Quantity(name).to("ms" if "ms" in name else "").m)
    return total


@pytest.mark.parametrize(("cls", "options"), OPTIMIZERS, ids=["botorch", "sobol", "skopt"])
@settings(
    max_examples=12,
    phases=[Phase.explicit, Phase.reuse, Phase.generate],
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(config=spaces(), data=st.data())
def test_every_suggestion_is_feasible(
    cls: type[AskTellOptimizer], options: dict[str, Any], config: dict[str, Any], data: Any
) -> None:
    try:
        space = SearchSpace(config)
    except ConfigError:
        assume(False)
        raise
    seed = data.draw(st.integers(0, 1000))
    optimizer = cls(space, OBJECTIVES, seed=seed, initial_experiments=3, **options)
    told = space.decode_many(space.sample(data.draw(st.integers(0, 7)), seed=seed + 1))
    rng = np.random.default_rng(seed)
    outcomes: list[dict[str, float] | None] = [
        None if rng.random() < 0.2 else {"yield_": rng.normal(), "loss": rng.normal()}
        for _ in told
    ]
    if told:
        optimizer.tell(told, outcomes)
    pending = space.decode_many(space.sample(data.draw(st.integers(0, 2)), seed=seed + 2))
    check(space, optimizer.ask(data.draw(st.integers(1, 2)), pending=pending))
