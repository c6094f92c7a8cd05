"""The one optimizer registry: built-in kinds, kinds from another distribution's entry points."""

from __future__ import annotations

import json
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from labctl.lab.registry import optimizer_class, optimizer_kinds
from labctl.optimizers import registry
from labctl.optimizers.base import AskTellOptimizer

SPACE: dict[str, Any] = {"x": {"low": 0.0, "high": 1.0}, "y": {"low": 0.0, "high": 1.0}}
OBJECTIVES: dict[str, Any] = {"f": {"direction": "maximize"}}


@pytest.fixture
def lab_distribution(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """An installed distribution ``mylab`` whose entry point adds the optimizer ``mylab-sobol``."""
    (tmp_path / "mylab_optimizers.py").write_text(
        textwrap.dedent(
            """
            from labctl.optimizers.sobol import SobolOptimizer

            class LabSobol(SobolOptimizer):
                '''A lab's own optimizer: not decorated with register(); found by entry point.'''
            """
        )
    )
    info = tmp_path / "mylab-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: mylab\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text(
        "[labctl.optimizers]\nmylab-sobol = mylab_optimizers:LabSobol\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    registry.forget_entry_points()
    yield "mylab-sobol"
    registry._REGISTRY.pop("mylab-sobol", None)
    registry.forget_entry_points()


def test_an_entry_point_optimizer_is_known_to_the_lab_and_restores_from_its_state(
    lab_distribution: str,
) -> None:
    assert lab_distribution in optimizer_kinds()
    cls = optimizer_class(lab_distribution)
    assert cls is registry.get(lab_distribution)
    assert cls.__name__ == "LabSobol"
    optimizer = cls(SPACE, OBJECTIVES, seed=3)
    proposal = optimizer.ask(2)
    optimizer.tell(proposal, [{"f": 1.0}, {"f": 2.0}])
    state = json.loads(json.dumps(optimizer.state()))
    assert state["kind"] == lab_distribution
    restored = AskTellOptimizer.from_state(state)
    assert type(restored) is cls
    assert len(restored.observations[0]) == 2


def test_an_entry_point_may_not_take_a_builtin_name(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    info = tmp_path / "rogue-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: rogue\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text("[labctl.optimizers]\nsobol = rogue:Sobol\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    registry.forget_entry_points()
    try:
        with pytest.raises(registry.DuplicateOptimizerError, match="claimed by both"):
            registry.kinds()
    finally:
        monkeypatch.undo()
        registry.forget_entry_points()
