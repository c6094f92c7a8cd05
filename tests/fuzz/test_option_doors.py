"""Bad input in the options experiments, devices and techniques read from a config.

The electrolyte and pulsed-charging campaigns' ``experiment_options``, the droplet cell's options
(its substrate map among them) and every potentiostat technique's parameters are mutated at
random — a key replaced by a nasty value of another type or unit, deleted, or joined by an
unknown one — starting from the shipped configs. The only outcomes allowed: the config is valid,
or a :class:`~labctl.errors.ConfigError` whose issues name key paths under the section fuzzed
(never a pydantic ``ValidationError``, ``KeyError`` or ``TypeError`` escaping); a technique that
parses either passes the potentiostat's limits or is refused with a ``SafetyLimitError``.
"""

from __future__ import annotations

import copy
import json
import math
import tempfile
from collections.abc import Iterator, Mapping
from functools import cache
from pathlib import Path
from typing import Any

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from labctl.config import LoadedConfig, load_config
from labctl.devices.dispensing.inventory import Inventory
from labctl.devices.dispensing.recipe import Recipe, Stock
from labctl.devices.dispensing.recipe_solver import solve
from labctl.devices.droplet.sites import SubstrateMap
from labctl.devices.potentiostat.techniques import (
    CA,
    CP,
    CV,
    EIS,
    LSV,
    OCV,
    PlateStrip,
    PulseTrain,
    TechniqueLimits,
    parse_technique,
)
from labctl.errors import ConfigError, LabctlError, SafetyLimitError
from labctl.lab.registry import device_issues, experiment_factory

CONFIGS = Path(__file__).resolve().parents[2] / "configs"

UNITS = ["V", "mV", "A", "mA", "mA/cm**2", "s", "ms", "h", "Hz", "kHz", "V/s", "mV/s", "C"]
UNITS += ["mL", "g", "1/cm", "cm**2", "K", "degC", "mol/kg", "furlong", "", "V V", "%"]
MAGNITUDES = ["0", "-1", "1", "0.5", "1e308", "-1e308", "1e-320", "nan", "inf", "-inf", "2**64"]
QUANTITY = st.builds(
    lambda magnitude, unit: f"{magnitude} {unit}".strip(),
    st.sampled_from(MAGNITUDES),
    st.sampled_from(UNITS),
)
SCALAR = st.one_of(
    QUANTITY,
    st.floats(),
    st.integers(-(2**70), 2**70),
    st.booleans(),
    st.none(),
    st.text(max_size=8),
    st.sampled_from(["robot", "MIX", "potentiostat", "droplet", "EC", "nonexistent", "\x00"]),
)
VALUE = st.one_of(
    SCALAR,
    st.lists(SCALAR, max_size=3),
    st.dictionaries(st.sampled_from(["low", "high", "x", "name", "1"]), SCALAR, max_size=3),
)
DELETE = object()


def _key_paths(value: Any, prefix: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    """Every key path in nested mappings and lists (the container's own path included)."""
    if prefix:
        yield prefix
    if isinstance(value, Mapping):
        for key, item in value.items():
            yield from _key_paths(item, (*prefix, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _key_paths(item, (*prefix, index))


def _mutated(options: Any, changes: list[tuple[int, Any]]) -> Any:
    """``options`` with each change applied: (which key path, new value / DELETE / new key)."""
    options = copy.deepcopy(options)
    for which, value in changes:
        paths = list(_key_paths(options))
        if not paths or which % (len(paths) + 1) == len(paths):
            if isinstance(options, dict):
                options[f"unknown_{which}"] = value
            continue
        *parents, last = paths[which % (len(paths) + 1)]
        container = options
        for key in parents:
            container = container[key]
        if value is DELETE and isinstance(container, dict):
            del container[last]
        elif value is not DELETE:
            container[last] = value
    return options


CHANGES = st.lists(
    st.tuples(st.integers(0, 1000), VALUE | st.just(DELETE)), min_size=1, max_size=4
)


@cache
def _config(name: str) -> LoadedConfig:
    return load_config(CONFIGS / name)


def _with(
    loaded: LoadedConfig, *, options: Any = None, device: tuple[str, Any] | None = None
) -> Any:
    """``loaded`` with the campaign's experiment_options or one device's options replaced."""
    model = loaded.model
    if options is not None:
        assert model.campaign is not None
        campaign = model.campaign.model_copy(update={"experiment_options": options})
        model = model.model_copy(update={"campaign": campaign})
    if device is not None:
        name, device_options = device
        devices = dict(model.devices)
        devices[name] = devices[name].model_copy(update={"options": device_options})
        model = model.model_copy(update={"devices": devices})
    return LoadedConfig(model, loaded.source, loaded.raw)


def _assert_issues_under(error: ConfigError, prefix: tuple[str, ...]) -> None:
    assert error.issues, str(error)
    for issue in error.issues:
        assert issue.path[: len(prefix)] == prefix, (issue, prefix)
        assert issue.message


def _check_experiment_options(config_name: str, changes: list[tuple[int, Any]]) -> None:
    loaded = _config(config_name)
    section = loaded.model.campaign
    assert section is not None
    options = _mutated(section.experiment_options, changes)
    if not isinstance(options, dict):
        return
    fuzzed = _with(loaded, options=options)
    factory = experiment_factory(section.experiment)
    where = ("campaign", "experiment_options")
    # The door `labctl validate/run/resume` goes through: issues with key paths, never a raise.
    for issue in factory.check_config(fuzzed):
        assert issue.path[:2] == where, issue
        assert issue.message
    # The factory without a lab (report, resume): a reducer, or a ConfigError with key paths.
    try:
        factory(None, fuzzed.model.campaign)
    except ConfigError as error:
        _assert_issues_under(error, where)


@settings(max_examples=80, deadline=None, derandomize=True)
@given(changes=CHANGES)
def test_random_electrolyte_options_give_key_path_issues(changes: list[tuple[int, Any]]) -> None:
    _check_experiment_options("electrolyte-sim.yaml", changes)


@settings(max_examples=80, deadline=None, derandomize=True)
@given(changes=CHANGES)
def test_random_pulsed_charging_options_give_key_path_issues(
    changes: list[tuple[int, Any]],
) -> None:
    _check_experiment_options("pulsed-charging-sim.yaml", changes)


@pytest.mark.parametrize("config_name", ["electrolyte-sim.yaml", "pulsed-charging-sim.yaml"])
@pytest.mark.parametrize(
    "options",
    [{}, {"nonsense": 1}, {"eis": "nan"}, {"droplet": ["droplet"]}, {"transfer": {"pump": None}}],
    ids=["empty", "unknown key", "eis text", "droplet list", "transfer pump none"],
)
def test_nasty_experiment_options_corpus(config_name: str, options: dict[str, Any]) -> None:
    loaded = _config(config_name)
    assert loaded.model.campaign is not None
    merged = {**loaded.model.campaign.experiment_options, **options}
    for candidate in (options, merged):
        _check_experiment_options_exact(config_name, candidate)


def _check_experiment_options_exact(config_name: str, options: dict[str, Any]) -> None:
    loaded = _config(config_name)
    assert loaded.model.campaign is not None
    fuzzed = _with(loaded, options=options)
    factory = experiment_factory(loaded.model.campaign.experiment)
    issues = factory.check_config(fuzzed)
    assert all(issue.path[:2] == ("campaign", "experiment_options") for issue in issues)
    try:
        factory(None, fuzzed.model.campaign)
    except ConfigError as error:
        _assert_issues_under(error, ("campaign", "experiment_options"))


@settings(max_examples=80, deadline=None, derandomize=True)
@given(changes=CHANGES)
def test_random_droplet_cell_options_give_key_path_issues(changes: list[tuple[int, Any]]) -> None:
    loaded = _config("pulsed-charging-sim.yaml")
    options = _mutated(loaded.model.devices["droplet"].options, changes)
    if not isinstance(options, dict):
        return
    fuzzed = _with(loaded, device=("droplet", options))
    for issue in device_issues("droplet", fuzzed.model.devices["droplet"]):
        assert issue.path[:2] == ("devices", "droplet"), issue
        assert issue.message


TECHNIQUES = {cls.model_fields["kind"].default: cls for cls in (OCV, CA, CP, LSV, CV, EIS)}
TECHNIQUES.update({"pulse_train": PulseTrain, "plate_strip": PlateStrip})
LIMITS = TechniqueLimits(
    device="pstat",
    potential=(-2.0, 2.0),
    current=0.05,
    current_density=500.0,
    electrode_area=7.07e-6,
    compliance_voltage=5.0,
    duration=7200.0,
)


# A valid technique of each kind: the fuzz changes one or two of its fields (in the field's own
# unit with a nasty magnitude, or to anything), so most examples get past parsing.
VALID_TECHNIQUES: dict[str, dict[str, Any]] = {
    "ocv": {"duration": "10 s", "interval": "1 s"},
    "ca": {"potential": "0.1 V", "duration": "10 s", "interval": "1 s"},
    "cp": {"current": "1 mA", "duration": "10 s", "interval": "1 s"},
    "lsv": {"start": "0 V", "end": "1 V", "scan_rate": "10 mV/s", "step": "5 mV"},
    "cv": {"start": "0 V", "vertex1": "1 V", "vertex2": "-0.5 V", "scan_rate": "0.1 V/s"},
    "eis": {
        "dc_potential": "0 V",
        "max_frequency": "10 kHz",
        "min_frequency": "1 Hz",
        "points_per_decade": 5,
    },
    "pulse_train": {
        "on_current": "-1 mA",
        "on_time": "5 ms",
        "off_current": "0.5 mA",
        "off_time": "15 ms",
        "cycles": 10,
    },
    "plate_strip": {
        "plate_current": "-1 mA",
        "plate_charge": "1 mC",
        "strip_current": "1 mA",
        "cutoff_potential": "0.3 V",
        "interval": "10 ms",
    },
}


@st.composite
def _techniques(draw: st.DrawFn) -> dict[str, Any]:
    kind = draw(st.sampled_from([*TECHNIQUES, "dance", ""]))
    fields = [name for name in TECHNIQUES.get(kind, OCV).model_fields if name != "kind"]
    if draw(st.booleans()):  # anything in any field
        chosen = draw(st.lists(st.sampled_from([*fields, "bogus"]), unique=True, max_size=8))
        return {"kind": kind, **{name: draw(VALUE) for name in chosen}}
    parameters = {"kind": kind, **VALID_TECHNIQUES.get(kind, {})}
    for name in draw(st.lists(st.sampled_from(fields), unique=True, min_size=1, max_size=2)):
        old = parameters.get(name)
        unit = old.split(" ", 1)[1] if isinstance(old, str) and " " in old else ""
        magnitude = draw(st.sampled_from([*MAGNITUDES, "1e6", "-5", "1e-9", "3"]))
        parameters[name] = draw(st.just(f"{magnitude} {unit}".strip()) | VALUE)
    return parameters


@settings(max_examples=200, deadline=None, derandomize=True)
@given(parameters=_techniques())
def test_random_technique_parameters_parse_or_are_refused(parameters: dict[str, Any]) -> None:
    try:
        technique = parse_technique(parameters, source="technique")
    except ConfigError as error:
        assert error.issues
        return
    try:
        technique.check_limits(LIMITS)
    except SafetyLimitError as refused:
        assert "pstat" in str(refused)
        return
    try:
        technique.as_si()
        technique.describe()
        technique.expected_duration()
    except LabctlError as error:  # pragma: no cover - reported if it ever happens
        raise AssertionError(f"{parameters} passed its checks, then: {error}") from error


def test_the_valid_techniques_are_valid() -> None:
    """The fuzz's seeds pass parsing and the limits, so the fuzz reaches as_si and describe."""
    for kind, fields in VALID_TECHNIQUES.items():
        parse_technique({"kind": kind, **fields}).check_limits(LIMITS)


SITE_KEYS = st.sampled_from(["0,0", "1,2", "5,7", "9,9", "-1,0", "a,b", "1,2,3", "", "0, 0"])
SITE_FILES = st.one_of(
    st.dictionaries(SITE_KEYS, VALUE | st.sampled_from(["used", "failed", "fresh"]), max_size=4),
    VALUE,
).map(
    lambda sites: {
        "version": 1,
        "substrate": "zn",
        "rows": 6,
        "columns": 8,
        "pitch_mm": 2.5,
        "origin_mm": [20.0, 20.0],
        "sites": sites,
    }
)


@settings(max_examples=80, deadline=None, derandomize=True)
@given(
    document=SITE_FILES | st.dictionaries(st.text(max_size=6), VALUE, max_size=3) | VALUE,
    site=st.none() | SITE_KEYS,
)
# Regressions: 'sites' not a mapping raised AttributeError; an off-map key was kept.
@example(document={"version": 1, "rows": 6, "columns": 8, "sites": 0.0}, site=None)
@example(
    document={
        "version": 1,
        "substrate": "zn",
        "rows": 6,
        "columns": 8,
        "pitch_mm": 2.5,
        "origin_mm": [20.0, 20.0],
        "sites": {"9,9": "used", "a,b": "failed"},
    },
    site=None,
)
def test_a_site_file_of_junk_is_a_site_error(document: Any, site: str | None) -> None:
    """The substrate map's state file (a door: it is read back when a campaign resumes)."""
    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / "zn.sites.json"
        path.write_text(json.dumps(document), encoding="utf-8")
        try:
            sites = SubstrateMap(
                path, rows=6, columns=8, pitch=2.5, origin=(20.0, 20.0), name="zn"
            )
            sites.counts()
            claimed = sites.claim(site)
            sites.mark(claimed, "used")
        except LabctlError as error:
            assert str(error)


INVENTORY_STOCKS = [
    Stock(name="salt", composition="2 mol/kg LiPF6 in EC", density="1.45 g/mL", volume="50 mL"),
    Stock(name="dmc", composition="pure DMC", density="1.063 g/mL", volume="100 mL"),
]
VOLUMES = st.one_of(
    st.builds(
        lambda magnitude, unit: f"{magnitude} {unit}",
        st.sampled_from([*MAGNITUDES, "1e303", "1e20", "-0"]),
        st.sampled_from(["mL", "uL", "L", "m**3", "g", "mol", "furlong"]),
    ),
    SCALAR,
)


@settings(max_examples=80, deadline=None, derandomize=True)
@given(
    operations=st.lists(
        st.tuples(
            st.sampled_from(["refill", "set_volume", "check", "reserve", "consume", "rinse"]),
            st.sampled_from(["salt", "dmc", "nope", ""]),
            VOLUMES,
        ),
        min_size=1,
        max_size=5,
    )
)
@example(operations=[("refill", "salt", "1e303 mL")])  # regression: OverflowError
def test_volumes_from_operators_and_plans_are_booked_or_refused(
    operations: list[tuple[str, str, Any]],
) -> None:
    """``labctl stock refill`` and every plan's volumes: booked, or an InventoryError."""
    with tempfile.TemporaryDirectory() as directory:
        inventory = Inventory(Path(directory) / "inventory.json", INVENTORY_STOCKS)
        for operation, stock, volume in operations:
            try:
                if operation in ("refill", "set_volume", "consume"):
                    getattr(inventory, operation)(stock, volume)
                elif operation == "rinse":
                    inventory.rinse(volume, stock=stock)
                else:
                    getattr(inventory, operation)({stock: volume}, overhead=volume)
            except LabctlError as error:
                assert str(error)
        for left in inventory.volumes().values():
            assert math.isfinite(left.magnitude)
            assert left.magnitude >= 0


RECIPE_STOCKS = [
    Stock(name="salt_ec", composition="2 mol/kg LiPF6 in EC", density="1.41 g/mL", volume="50 mL"),
    Stock(name="ec", composition="pure EC", density="1.32 g/mL", volume="50 mL"),
    Stock(name="dmc", composition="pure DMC", density="1.07 g/mL", volume="50 mL"),
]
VALID_RECIPE: dict[str, Any] = {
    "molality": "1 mol/kg",
    "solvents": {"EC": 0.5, "DMC": 0.5},
    "amount": "2 mL",
}


@settings(max_examples=120, deadline=None, derandomize=True)
@given(changes=CHANGES)
def test_random_recipes_are_solved_or_refused(changes: list[tuple[int, Any]]) -> None:
    """A recipe (an optimizer's proposal, a plan's argument): a plan, or a RecipeError."""
    recipe_data = _mutated(VALID_RECIPE, changes)
    if not isinstance(recipe_data, dict):
        return
    try:
        recipe = Recipe.from_mapping(recipe_data)
        plan = solve(recipe, RECIPE_STOCKS)
    except LabctlError as error:
        assert str(error)
        return
    for volume in plan.volumes().values():
        assert math.isfinite(volume.magnitude)
