"""Config validation: bad configs exit 2 naming the key path; random input gives ConfigError."""

from __future__ import annotations

import copy
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from labctl.cli import app
from labctl.config import load_config, parse_config
from labctl.errors import ConfigError
from labctl.lab.registry import validate_lab_config
from labctl.testing.configs import sim_lab_document, write_config

runner = CliRunner()


def _glovebox(document: dict[str, Any]) -> dict[str, Any]:
    return document["devices"]["glovebox"]


def _set(path: tuple[str, ...], value: Any) -> Callable[[dict[str, Any]], None]:
    def edit(document: dict[str, Any]) -> None:
        node = document
        for key in path[:-1]:
            node = node[key]
        node[path[-1]] = value

    return edit


def _delete(path: tuple[str, ...]) -> Callable[[dict[str, Any]], None]:
    def edit(document: dict[str, Any]) -> None:
        node = document
        for key in path[:-1]:
            node = node[key]
        del node[path[-1]]

    return edit


# (case id, edit of the sim-lab document, key path the message must name, words it must hold)
BAD_DOCUMENTS: list[tuple[str, Callable[[dict[str, Any]], None], str, str]] = [
    ("missing lab name", _delete(("lab", "name")), "lab.name", "required"),
    ("missing device kind", _delete(("devices", "room", "kind")), "devices.room.kind", "required"),
    (
        "unknown key",
        _set(("devices", "room", "adress"), "opc.tcp://127.0.0.1:4840"),
        "devices.room.adress",
        "unknown key",
    ),
    (
        "unknown device kind",
        _set(("devices", "room", "kind"), "flux-capacitor"),
        "devices.room.kind",
        "unknown device kind",
    ),
    (
        "unknown driver",
        _set(("devices", "room", "driver"), "modbus"),
        "devices.room.driver",
        "no 'modbus' driver",
    ),
    (
        "temperature limit in kg",
        _set(("devices", "glovebox", "limits", "temperature"), {"low": "15 kg"}),
        "devices.glovebox.limits.temperature.low",
        "wrong dimension",
    ),
    (
        "negative timeout",
        _set(("devices", "glovebox", "timeout"), {"connect": "-1 s", "read": "2 s"}),
        "devices.glovebox.timeout.connect",
        "must be positive",
    ),
    (
        "timeout without units",
        _set(("devices", "room", "timeout"), 2),
        "devices.room.timeout.connect",
        "no units",
    ),
    (
        "timeout of the wrong dimension",
        _set(("devices", "room", "timeout"), "2 m"),
        "devices.room.timeout.connect",
        "expected a time",
    ),
    (
        "unknown twin",
        _set(("devices", "room", "twin"), {"kind": "opcua-teapot"}),
        "devices.room.twin.kind",
        "unknown twin kind",
    ),
    (
        "channel unit that is not a unit",
        _set(("devices", "room", "options", "channels", "humidity", "units"), "bananas"),
        "devices.room.options.channels.humidity.units",
        "not a unit",
    ),
    (
        "limit for a channel that does not exist",
        _set(("devices", "room", "limits", "co2"), {"high": "1000 ppm"}),
        "devices.room.limits.co2",
        "no channel",
    ),
    (
        "limits in the wrong order",
        _set(("devices", "room", "limits", "temperature"), {"low": "30 degC", "high": "15 degC"}),
        "devices.room.limits.temperature",
        "must be below",
    ),
    (
        "neither address nor twin",
        _delete(("devices", "room", "twin")),
        "devices.room",
        "needs an 'address'",
    ),
    (
        "device name that is not an identifier",
        lambda document: document["devices"].update({"glove box": document["devices"]["room"]}),
        "devices",
        "Python identifier",
    ),
    (
        "bad store kind",
        _set(("store", "kind"), "ftp"),
        "store.kind",
        "'embedded' or 'tiled'",
    ),
    (
        "negative time scale",
        _set(("simulation", "time_scale"), -1),
        "simulation.time_scale",
        "greater than or equal to 0",
    ),
]


def _run_validate(path: Path) -> Any:
    return runner.invoke(app, ["validate", str(path)])


@pytest.mark.parametrize(
    ("edit", "key_path", "words"),
    [pytest.param(edit, key, words, id=case) for case, edit, key, words in BAD_DOCUMENTS],
)
def test_bad_config_exits_2_naming_the_key_path(
    tmp_path: Path, edit: Callable[[dict[str, Any]], None], key_path: str, words: str
) -> None:
    document = copy.deepcopy(sim_lab_document())
    edit(document)
    path = write_config(tmp_path, document)
    result = _run_validate(path)
    assert result.exit_code == 2, result.output
    message = " ".join(result.output.split())
    assert str(path) in message
    assert key_path in message
    assert words in message
    assert "Traceback" not in result.output


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("lab: {name: x\n", "not valid YAML"),
        ("", "empty"),
        ("- just\n- a list\n", "top level must be a mapping"),
        ("lab: {name: a}\nlab: {name: b}\n", "lab: duplicate key on line 2"),
        (
            "lab: {name: a}\ndevices:\n  room: {kind: a, driver: b, address: x}\n"
            "  room: {kind: a, driver: b, address: y}\n",
            "devices.room: duplicate key",
        ),
    ],
)
def test_bad_yaml_exits_2(tmp_path: Path, text: str, words: str) -> None:
    path = tmp_path / "lab.yaml"
    path.write_text(text)
    result = _run_validate(path)
    assert result.exit_code == 2
    assert words in " ".join(result.output.split())


def test_missing_file_exits_2(tmp_path: Path) -> None:
    result = _run_validate(tmp_path / "nope.yaml")
    assert result.exit_code == 2
    assert "no such file" in result.output


def test_unreachable_address_exits_2_with_connect(tmp_path: Path) -> None:
    document = copy.deepcopy(sim_lab_document())
    room = document["devices"]["room"]
    del room["twin"]
    room["address"] = "opc.tcp://127.0.0.1:9"  # the discard port: nothing listens
    room["timeout"] = "1 s"
    path = write_config(tmp_path, document)
    result = runner.invoke(app, ["validate", "--connect", str(path)])
    assert result.exit_code == 2, result.output
    message = " ".join(result.output.split())
    assert "devices.room.address" in message
    assert "opc.tcp://127.0.0.1:9" in message


def test_sim_lab_is_valid_and_summarised() -> None:
    path = Path(__file__).resolve().parents[2] / "configs" / "sim-lab.yaml"
    result = _run_validate(path)
    assert result.exit_code == 0, result.output
    assert "glovebox" in result.output
    assert "valid" in result.output


def test_every_issue_is_reported_at_once(tmp_path: Path) -> None:
    document = copy.deepcopy(sim_lab_document())
    _glovebox(document)["timeout"] = "-2 s"
    document["devices"]["room"]["colour"] = "blue"
    with pytest.raises(ConfigError) as caught:
        load_config(write_config(tmp_path, document))
    paths = {issue.key_path for issue in caught.value.issues}
    assert {"devices.glovebox.timeout.connect", "devices.room.colour"} <= paths


def test_config_hash_ignores_formatting(tmp_path: Path) -> None:
    document = sim_lab_document()
    compact = parse_config(yaml.safe_dump(document, default_flow_style=True))
    spread = parse_config(yaml.safe_dump(document, sort_keys=False))
    assert compact.hash == spread.hash
    changed = copy.deepcopy(document)
    changed["lab"]["operator"] = "someone else"
    assert parse_config(yaml.safe_dump(changed)).hash != compact.hash


yaml_scalars = st.one_of(
    st.none(), st.booleans(), st.integers(), st.floats(allow_nan=True), st.text(max_size=12)
)
yaml_documents = st.recursive(
    yaml_scalars,
    lambda children: st.one_of(
        st.lists(children, max_size=4),
        st.dictionaries(
            st.sampled_from(
                [
                    "lab",
                    "name",
                    "devices",
                    "kind",
                    "driver",
                    "address",
                    "twin",
                    "timeout",
                    "limits",
                    "options",
                    "store",
                    "simulation",
                    "high",
                    "low",
                    "channels",
                    "x",
                ]
            )
            | st.text(max_size=6),
            children,
            max_size=5,
        ),
    ),
    max_leaves=25,
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(yaml_documents)
def test_random_documents_only_raise_config_error(document: Any) -> None:
    text = yaml.safe_dump(document)
    try:
        loaded = parse_config(text)
        validate_lab_config(loaded)
    except ConfigError as error:
        assert error.issues
        assert all(str(issue) for issue in error.issues)


@settings(max_examples=150, deadline=None)
@given(st.text(max_size=200))
def test_random_text_only_raises_config_error(text: str) -> None:
    try:
        parse_config(text)
    except ConfigError as error:
        assert error.issues


def test_a_config_extends_another(tmp_path: Path) -> None:
    base = write_config(tmp_path, sim_lab_document(), name="base.yaml")
    child = tmp_path / "campaign.yaml"
    child.write_text(
        "extends: base.yaml\n"
        "lab: {operator: night shift}\n"
        "devices:\n  room: {timeout: 3 s}\n"
        "campaign:\n"
        "  name: demo\n"
        "  experiment: electrolyte\n"
        "  space: {salt_molality: {low: 0.5 mol/kg, high: 2 mol/kg}}\n"
        "  objectives: {conductivity: {direction: maximize}}\n"
        "  budget: {experiments: 30, wall_time: 2 h}\n"
    )
    loaded = load_config(child)
    assert loaded.model.lab.name == "sim-lab"
    assert loaded.model.lab.operator == "night shift"
    assert loaded.model.devices["room"].timeout.read.to("s").magnitude == 3
    assert loaded.model.devices["room"].kind == "environment-sensor"  # kept from the base
    assert loaded.data_directory == (tmp_path / "data").resolve()
    campaign = loaded.model.campaign
    assert campaign is not None
    assert campaign.budget.experiments == 30
    assert campaign.budget.wall_time is not None
    assert campaign.optimizer.kind == "botorch-mo"
    assert base.exists()


@pytest.mark.parametrize(
    ("campaign", "key_path", "words"),
    [
        (
            {"name": "x", "experiment": "e", "space": {"a": 1}, "objectives": {"b": 1}},
            "campaign.budget",
            "required",
        ),
        (
            {
                "name": "x",
                "experiment": "e",
                "space": {"a": 1},
                "objectives": {"b": 1},
                "budget": {"experiments": 5, "wall_time": 3},
            },
            "campaign.budget.wall_time",
            "no units",
        ),
        (
            {
                "name": "x",
                "experiment": "e",
                "space": {},
                "objectives": {"b": 1},
                "budget": {"experiments": 5},
            },
            "campaign.space",
            "at least 1",
        ),
        (
            {
                "name": "x",
                "experiment": "e",
                "space": {"a": 1},
                "objectives": {"b": 1},
                "budget": {"experiments": 5},
                "failure_policy": {"stop_on": ["gravimetric_mismatch", "pump_on_fire"]},
            },
            "campaign.failure_policy.stop_on[1]",
            "short_circuit",
        ),
    ],
)
def test_bad_campaign_sections(
    tmp_path: Path, campaign: dict[str, Any], key_path: str, words: str
) -> None:
    document = copy.deepcopy(sim_lab_document())
    document["campaign"] = campaign
    result = _run_validate(write_config(tmp_path, document))
    assert result.exit_code == 2, result.output
    message = " ".join(result.output.split())
    assert key_path in message
    assert words in message


def test_extends_loops_and_missing_files_are_config_errors(tmp_path: Path) -> None:
    (tmp_path / "a.yaml").write_text("extends: b.yaml\nlab: {name: a}\n")
    (tmp_path / "b.yaml").write_text("extends: a.yaml\nlab: {name: b}\n")
    with pytest.raises(ConfigError, match="loop"):
        load_config(tmp_path / "a.yaml")
    (tmp_path / "c.yaml").write_text("extends: nowhere.yaml\nlab: {name: c}\n")
    with pytest.raises(ConfigError, match=r"extends: cannot read"):
        load_config(tmp_path / "c.yaml")
