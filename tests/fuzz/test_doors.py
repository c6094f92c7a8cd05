"""Bad input at every door: random and hand-written nasty input gives success or a LabctlError.

Doors covered here: command-line arguments of every command, campaign search spaces and
objectives, approval envelopes, schedule entries. (Configs are fuzzed in ``tests/test_config.py``;
each wire-protocol parser is fuzzed beside its driver.) The rule everywhere: the only outcomes
allowed are success or a :class:`~labctl.errors.LabctlError` whose message says something — never
a traceback, never a bare ``KeyError``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from labctl.approvals import Envelope
from labctl.cli import app
from labctl.errors import LabctlError
from labctl.optimizers.objectives import Objectives
from labctl.optimizers.space import SearchSpace
from labctl.schedule import Schedule

COMMANDS = [
    ["validate"],
    ["validate", "--connect"],
    ["runs"],
    ["campaigns"],
    ["resume"],
    ["approvals"],
    ["approve"],
    ["schedule", "add"],
    ["schedule", "list"],
    ["schedule", "remove"],
    ["qserver", "status"],
    ["qserver", "submit"],
    ["twin", "serve"],
    ["store", "status"],
]

NASTY_WORDS = [
    "",
    "-",
    "--",
    "\x00",
    "../../../../etc/passwd",
    "/dev/null",
    "' OR 1=1 --",
    "nan",
    "-1",
    "1e309",
    "ünïcödé",
    "a" * 300,
    "--help-me",
    "{}",
    "[1, 2",
]

QUANTITY_TEXT = st.sampled_from(
    ["1 V", "2 mol/kg", "-5 degC", "0", "1e9 A", "abc", "", "3 furlong", "nan V", "1 V/s", None]
)
QUANTITY_LIKE = QUANTITY_TEXT | st.floats(allow_nan=True) | st.integers() | st.booleans()
SPEC = st.dictionaries(
    st.sampled_from(["low", "high", "log", "type", "choices", "value", "units", "mixture", "x"]),
    QUANTITY_LIKE
    | st.lists(QUANTITY_TEXT, max_size=3)
    | st.dictionaries(
        st.text(max_size=3),
        st.dictionaries(st.sampled_from(["low", "high"]), QUANTITY_LIKE, max_size=2),
        max_size=3,
    ),
    max_size=4,
)


def _no_traceback(output: str) -> None:
    assert "Traceback" not in output, output


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: " ".join(c))
@pytest.mark.parametrize("word", NASTY_WORDS[:8])
def test_nasty_arguments_exit_cleanly(command: list[str], word: str, tmp_path: Path) -> None:
    result = CliRunner().invoke(app, [*command, word, word], catch_exceptions=True)
    _no_traceback(result.output)
    assert result.exit_code in (0, 1, 2), (result.exit_code, result.output, result.exception)
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(words=st.lists(st.sampled_from(NASTY_WORDS) | st.text(max_size=12), max_size=4))
def test_random_arguments_exit_cleanly(words: list[str]) -> None:
    result = CliRunner().invoke(app, ["validate", *words], catch_exceptions=True)
    _no_traceback(result.output)
    assert result.exit_code in (0, 1, 2), (result.exit_code, result.output, result.exception)


@settings(max_examples=200, deadline=None)
@given(
    space=st.dictionaries(st.sampled_from(["x", "y", "solvent", "constraints"]), SPEC, max_size=3)
)
def test_random_search_spaces_give_a_space_or_a_config_error(space: dict[str, Any]) -> None:
    try:
        SearchSpace(space)
    except LabctlError as error:
        assert str(error)


@settings(max_examples=200, deadline=None)
@given(
    objectives=st.dictionaries(
        st.sampled_from(["a", "b", "constraints"]),
        st.dictionaries(
            st.sampled_from(["direction", "units", "reference", "x"]),
            st.sampled_from(["maximize", "minimize", "none", "up"]) | QUANTITY_LIKE,
            max_size=3,
        )
        | st.lists(
            st.sampled_from(["a >= 1", "b <= 2 V", "a > > 1", "zeta >= 0", ""]), max_size=2
        ),
        max_size=3,
    )
)
def test_random_objectives_give_objectives_or_a_config_error(objectives: dict[str, Any]) -> None:
    try:
        Objectives(objectives)
    except LabctlError as error:
        assert str(error)


@settings(max_examples=200, deadline=None)
@given(envelope=st.dictionaries(st.text(max_size=4), SPEC | QUANTITY_LIKE, max_size=3))
def test_random_envelopes_give_an_envelope_or_a_config_error(envelope: dict[str, Any]) -> None:
    try:
        Envelope.from_config(envelope)
    except LabctlError as error:
        assert str(error)


@settings(
    max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(at=st.text(max_size=30) | st.none(), cron=st.text(max_size=30) | st.none())
def test_random_schedule_entries_are_made_or_refused(tmp_path: Path, at: Any, cron: Any) -> None:
    campaign = tmp_path / "c.yaml"
    campaign.write_text("lab: {name: x}\n", encoding="utf-8")
    try:
        Schedule(tmp_path / "s.json").add(campaign, at=at, cron=cron)
    except LabctlError as error:
        assert str(error)
