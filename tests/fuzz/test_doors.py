"""Bad input at every door: random and hand-written nasty input gives success or a LabctlError.

The rule everywhere: the only outcomes allowed are success or a
:class:`~labctl.errors.LabctlError` whose message says something (for OPC UA: a refusal with a
status code) — never a traceback, a bare ``KeyError``, or a crashed server. This docstring is the
index of the doors and where each is fuzzed (hypothesis, plus hand-written nasty cases):

=====================================  ==========================================================
door                                   fuzzed in
=====================================  ==========================================================
CLI: every command typer registers     here (read from the app: a new command is fuzzed at once)
lab configs (YAML text and documents)  ``tests/config/test_loader.py``; here (a corpus
``load_config``
                                       refuses, and invalid ones each validating command names)
campaign search spaces, objectives     here
approval envelopes, schedule entries   here
schedule and approval files            here
``experiment_options`` (electrolyte,   ``tests/fuzz/test_option_doors.py``
pulsed-charging)
droplet cell options, substrate map,   ``tests/fuzz/test_option_doors.py``
its site file
technique parameters (all 8 kinds)     ``tests/fuzz/test_option_doors.py``
recipes, stock composition text        ``tests/fuzz/test_option_doors.py``;
                                       ``tests/devices/dispensing/test_recipe.py``
inventory volumes (``stock refill``)   ``tests/fuzz/test_option_doors.py``
quantities and units                   ``tests/test_units.py``
wire: MethodSCRIPT (driver / twin)     ``tests/devices/potentiostat/test_methodscript_packets.py``
                                       / ``tests/simulators/methodscript/test_twin.py``
wire: SCPI (driver / twin)             ``tests/devices/potentiostat/test_scpi_replies.py``
                                       / ``tests/simulators/scpi_smu/test_twin.py``
wire: GRBL (driver / twin)             ``tests/devices/stage/test_grbl_protocol.py``
                                       / ``tests/simulators/grbl/test_twin.py``
wire: Cavro pump (driver / twin)       ``tests/devices/dispensing/test_pump_protocol.py``
                                       / ``tests/simulators/cavro/test_twin.py``
wire: MT-SICS balance (driver / twin)  ``tests/devices/dispensing/test_balance_protocol.py``
                                       / ``tests/simulators/mtsics/test_twin.py``
wire: OPC UA, labctl's sensor reading  ``tests/fuzz/test_opcua_doors.py`` (a hostile server)
OPC UA writes and method calls: the    ``tests/fuzz/test_opcua_doors.py`` (anonymous and
status server, the environment twin    authenticated; idle and with a plan running)
measured data into the analysis        ``tests/analysis/test_garbage.py``
optimizer suggestions vs constraints   ``tests/optimizers/test_feasibility.py``
=====================================  ==========================================================

No labctl device writes to an environment controller (the ``environment-sensor`` reads only), so
there is no setpoint door there; its OPC UA read path is the door fuzzed.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import typer.main
import typer.testing
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from labctl.campaign.approvals import ApprovalBook
from labctl.cli import app
from labctl.config import Envelope, load_config
from labctl.errors import ConfigError, LabctlError
from labctl.operations.schedule import Schedule
from labctl.optimizers.objectives import Objectives
from labctl.optimizers.space import SearchSpace
from labctl.testing.configs import write_config

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


def _leaf_commands(group: Any, prefix: tuple[str, ...] = ()) -> Iterator[tuple[str, Any]]:
    for name, command in group.commands.items():
        if hasattr(command, "commands"):
            yield from _leaf_commands(command, (*prefix, name))
        else:
            yield " ".join((*prefix, name)), command


CONFIGS = Path(__file__).resolve().parents[2] / "configs"

# Every command typer registers, read from the app itself: a new command is fuzzed at once.
ROOT = typer.main.get_command(app)
COMMANDS = dict(_leaf_commands(ROOT))


@pytest.fixture(scope="module", autouse=True)
def _built_once() -> Iterator[None]:
    """The click command, built once for the module's ~900 calls.

    CliRunner rebuilds it from the typer app on every call (~0.1 s, 90 % of an invocation that
    stops at a bad config).
    """
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(typer.testing, "_get_command", lambda _app: ROOT)
        yield


# Options for a command with no required argument, so that it never serves with defaults.
OPTIONS_OF = {"proxy serve": ("--in", "--out")}

# Configs that load_config refuses: every command that takes a config stops at once, so run,
# shell and the servers never start (test_the_nasty_configs_are_all_refused checks).
NASTY_CONFIGS: dict[str, str | bytes | None] = {
    "missing": None,
    "empty": "",
    "binary": b"\xff\xfe\x00\x01garbage",
    "a list": "- lab\n- devices\n",
    "unclosed": "lab: {name: [x\n",
    "tabs": "lab:\n\tname: x\n",
    "duplicate keys": "lab: {name: x}\nlab: {name: y}\n",
    "extends itself": "extends: extends-itself.yaml\nlab: {name: x}\n",
    "data in a file": "lab: {name: x, data_directory: /dev/null}\n",
    "budget of junk": (
        "lab: {name: x}\ncampaign: {name: c, experiment: electrolyte, space: {}, "
        "objectives: {}, optimizer: {kind: sobol}, budget: {experiments: -1}}\n"
    ),
}
# Configs that load but that validate_lab_config refuses, with the key path it names: for the
# commands that validate before they act.
INVALID_CONFIGS = {
    "devices.d.kind": (
        "lab: {name: x}\ndevices: {d: {kind: toaster, driver: x, address: 127.0.0.1:1}}\n"
    ),
    "campaign.experiment_options": (
        "lab: {name: x}\ncampaign: {name: c, experiment: electrolyte, "
        "space: {x: {low: 0, high: 1}}, objectives: {conductivity: {direction: maximize}}, "
        "optimizer: {kind: sobol}, budget: {experiments: 2}, "
        "experiment_options: {vial: [1, 2], amount: nan mL, transfer: 3}}\n"
    ),
}
VALIDATING_COMMANDS = ("validate", "run", "opcua serve", "resume")


@pytest.fixture(scope="module")
def nasty_configs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """Name → path of each nasty config, plus a folder and a device given as configs."""
    directory = tmp_path_factory.mktemp("nasty-configs")
    paths = {"a folder": str(directory), "/dev/null": "/dev/null"}
    for name, content in NASTY_CONFIGS.items():
        path = directory / f"{name.replace(' ', '-')}.yaml"
        if isinstance(content, bytes):
            path.write_bytes(content)
        elif content is not None:
            path.write_text(content, encoding="utf-8")
        paths[name] = str(path)
    return paths


def test_the_nasty_configs_are_all_refused(nasty_configs: dict[str, str]) -> None:
    for name, path in nasty_configs.items():
        with pytest.raises(ConfigError) as refused:
            load_config(path)
        assert str(refused.value), name


@pytest.mark.parametrize("key_path", sorted(INVALID_CONFIGS))
@pytest.mark.parametrize("path", VALIDATING_COMMANDS)
def test_commands_refuse_an_invalid_config_by_key_path(
    path: str, key_path: str, tmp_path: Path
) -> None:
    config = tmp_path / "invalid.yaml"
    config.write_text(INVALID_CONFIGS[key_path], encoding="utf-8")
    arguments = _arguments(path, COMMANDS[path], str(config), "c-1", "/dev/null")
    result = _invoke([*path.split(), *arguments])
    assert result.exit_code == 2, result.output
    assert key_path in result.output


def _arguments(path: str, command: Any, config: str, word: str, folder: str) -> list[str]:
    """The command's required arguments and options, filled with nasty values.

    A config path gets ``config``; a folder a service would create (``shared start``) gets
    ``folder``, which is never a creatable directory; every other value gets ``word``.
    """
    arguments: list[str] = []
    for param in command.params:
        if param.param_type_name != "argument" and not param.required:
            continue
        if param.name == "directory":
            value = folder
        elif getattr(param.type_descriptor, "annotation", None) is Path:
            value = config
        else:
            value = word
        if param.param_type_name == "argument":
            arguments.append(value)
        else:
            arguments.extend([param.opts[0], value])
    for option in OPTIONS_OF.get(path, ()):
        arguments.extend([option, word])
    assert arguments, f"{path!r} takes no argument: say in OPTIONS_OF what to fuzz it with"
    return arguments


def _invoke(arguments: list[str]) -> Any:
    result = CliRunner().invoke(app, arguments, catch_exceptions=True)
    _no_traceback(result.output)
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    assert result.exit_code in (0, 1, 2), (arguments, result.exit_code, result.output)
    return result


def test_every_registered_command_is_fuzzed() -> None:
    assert len(COMMANDS) >= 30
    for expected in ("opcua serve", "qserver recover", "report", "campaigns", "twin serve"):
        assert expected in COMMANDS


@pytest.mark.parametrize("path", sorted(COMMANDS))
def test_nasty_arguments_exit_cleanly(path: str, nasty_configs: dict[str, str]) -> None:
    command = COMMANDS[path]
    configs = sorted(nasty_configs.items())
    folders = [nasty_configs["/dev/null"], nasty_configs["binary"], nasty_configs["empty"]]
    codes = set()
    for index in range(max(len(configs), len(NASTY_WORDS))):
        _, config = configs[index % len(configs)]
        word = NASTY_WORDS[index % len(NASTY_WORDS)]
        arguments = _arguments(path, command, config, word, folders[index % len(folders)])
        codes.add(_invoke([*path.split(), *arguments]).exit_code)
        # And with a stray extra argument.
        codes.add(_invoke([*path.split(), *arguments, word]).exit_code)
    assert codes <= {1, 2}, (path, codes)


@pytest.mark.slow
@pytest.mark.parametrize("path", sorted(COMMANDS))
def test_every_nasty_config_with_every_nasty_word(
    path: str, nasty_configs: dict[str, str]
) -> None:
    """The full cross product the default test samples one diagonal of (≈ 5,400 calls)."""
    folders = [nasty_configs["/dev/null"], nasty_configs["binary"], nasty_configs["empty"]]
    for config in nasty_configs.values():
        for index, word in enumerate(NASTY_WORDS):
            folder = folders[index % len(folders)]
            arguments = _arguments(path, COMMANDS[path], config, word, folder)
            assert _invoke([*path.split(), *arguments]).exit_code in (1, 2)


@settings(max_examples=60, deadline=None)
@given(
    path=st.sampled_from(sorted(COMMANDS)),
    word=st.sampled_from(NASTY_WORDS) | st.text(max_size=12),
    extra=st.lists(st.sampled_from(NASTY_WORDS) | st.text(max_size=12), max_size=3),
    config=st.sampled_from(sorted(NASTY_CONFIGS)),
)
def test_random_arguments_exit_cleanly(
    path: str, word: str, extra: list[str], config: str, tmp_path_factory: pytest.TempPathFactory
) -> None:
    directory = tmp_path_factory.getbasetemp() / "random-arguments"
    directory.mkdir(exist_ok=True)
    config_path = directory / "config.yaml"
    content = NASTY_CONFIGS[config]
    if isinstance(content, bytes):
        config_path.write_bytes(content)
    elif content is not None:
        config_path.write_text(content, encoding="utf-8")
    else:
        config_path.unlink(missing_ok=True)
    arguments = _arguments(path, COMMANDS[path], str(config_path), word, "/dev/null")
    _invoke([*path.split(), *arguments, *extra])


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


def test_a_proxy_address_it_cannot_bind_is_a_clear_failure() -> None:
    """Regression: zmq's bind error came out as a traceback (203.0.113.7 is TEST-NET-3)."""
    result = _invoke(["proxy", "serve", "--in", "203.0.113.7:5577", "--out", "127.0.0.1:1"])
    assert result.exit_code == 1
    assert "cannot bind --in 203.0.113.7:5577" in result.output


SCHEDULE_FIELD = st.one_of(
    st.none(),
    st.integers(),
    st.text(max_size=12),
    st.sampled_from(["2026-11-25T02:00", "0 22 * * 1-5", "61 * * * *", "every night"]),
    st.lists(st.text(max_size=4), max_size=2),
)


@settings(
    max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    content=st.lists(
        st.fixed_dictionaries(
            {"id": SCHEDULE_FIELD, "campaign_config": SCHEDULE_FIELD},
            optional={
                "at": SCHEDULE_FIELD,
                "cron": SCHEDULE_FIELD,
                "created": SCHEDULE_FIELD,
                "last_fired": SCHEDULE_FIELD,
                "log": SCHEDULE_FIELD,
                "extra": SCHEDULE_FIELD,
            },
        )
        | SCHEDULE_FIELD,
        max_size=3,
    )
    | SCHEDULE_FIELD
)
@example(content=[{"id": "a", "campaign_config": "x", "at": 5}])  # TypeError from fromisoformat
@example(content=[{"id": "a", "campaign_config": "x", "cron": "bogus"}])  # croniter's error
@example(content=[{"id": "a", "campaign_config": "x", "at": "2026-01-01", "log": 5}])
def test_a_schedule_file_of_junk_is_a_schedule_error(tmp_path: Path, content: Any) -> None:
    """The schedule file is read by `schedule list` and every period of `schedule run`."""
    path = tmp_path / "schedule.json"
    path.write_text(json.dumps(content), encoding="utf-8")
    try:
        for entry in Schedule(path).entries():
            entry.next_due()
    except LabctlError as error:
        assert str(error)


@pytest.mark.parametrize(("at", "cron"), [("yesterday", None), (None, "61 * * * *"), (None, None)])
def test_schedule_add_with_a_bad_time_is_bad_input(
    tmp_path: Path, at: str | None, cron: str | None
) -> None:
    """Regression: a bad --at or --cron exited 1 (a runtime failure) instead of 2."""
    config = tmp_path / "lab.yaml"
    config.write_text("lab: {name: x}\n", encoding="utf-8")
    options = [*(["--at", at] if at else []), *(["--cron", cron] if cron else [])]
    result = _invoke(["schedule", "add", str(config), str(config), *options])
    assert result.exit_code == 2, result.output


APPROVAL_FIELD = st.one_of(
    st.none(),
    st.integers(),
    st.floats(),
    st.booleans(),
    st.text(max_size=8),
    st.sampled_from(["approved", "rejected", "maybe"]),
    st.dictionaries(st.text(max_size=3), st.integers(), max_size=2),
)
APPROVAL_KEYS = ["campaign", "iteration", "inputs", "reason", "requested", "decision", "by"]


@settings(
    max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    content=st.dictionaries(st.sampled_from([*APPROVAL_KEYS, "decided", "x"]), APPROVAL_FIELD)
    | APPROVAL_FIELD,
    campaign=st.sampled_from(["c-1", "../c-1", "", "a/b", ".."]),
    iteration=st.integers(-2, 2),
)
@example(content="{not json", campaign="c-1", iteration=1)  # JSONDecodeError escaped
@example(
    content={"campaign": "c-1", "iteration": 1, "inputs": {}, "reason": "r", "requested": "x"},
    campaign="c-1",
    iteration=1,
)  # pending() sorting by a text 'requested' raised TypeError
def test_an_approval_file_of_junk_is_an_approval_error(
    tmp_path: Path, content: Any, campaign: str, iteration: int
) -> None:
    """Approval files are read by `labctl approvals`/`approve` and by a waiting campaign."""
    book = ApprovalBook(tmp_path / "approvals")
    path = tmp_path / "approvals" / "c-1" / "1.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(content if isinstance(content, str) else json.dumps(content), "utf-8")
    for action in (
        book.pending,
        lambda: book.get(campaign, iteration),
        lambda: book.decide(campaign, iteration, "approved", "fuzz"),
        lambda: book.request(campaign, iteration, {"x": 1}, "outside the envelope"),
    ):
        try:
            action()
        except LabctlError as error:
            assert str(error)


@pytest.fixture(scope="module")
def robot_lab(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """configs/electrolyte-sim.yaml (a lab with a dispensing robot), its data in a temp folder."""
    directory = tmp_path_factory.mktemp("robot-lab")
    document = copy.deepcopy(dict(load_config(CONFIGS / "electrolyte-sim.yaml").raw))
    document["lab"] = {**document["lab"], "data_directory": "data"}
    return write_config(directory, document)


@pytest.mark.parametrize(
    ("volume", "code", "shown"),
    [
        ("2 g", 2, "[length] ** 3"),  # regression: rich ate "[length]" as markup
        ("1e303 mL", 2, "finite"),  # regression: OverflowError in the inventory
        ("nan mL", 2, "not finite"),
        ("5", 2, "no units"),
        ("-1 mL", 2, "≥ 0"),
        ("0.5 mL", 0, "left"),
    ],
)
def test_stock_refill_volumes(robot_lab: Path, volume: str, code: int, shown: str) -> None:
    result = _invoke(["stock", "refill", str(robot_lab), "salt_ec", "--", volume])
    assert result.exit_code == code, result.output
    assert shown in result.output
