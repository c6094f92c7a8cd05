"""The pulsed-charging experiment, its reducer and its campaign on the droplet-cell twins.

The lab is ``configs/pulsed-charging-sim.yaml`` (GRBL stage, Cavro pump and MethodSCRIPT
potentiostat twins over one world; Zn in 1 M ZnSO4) with its data in a temporary directory.
"Truth" for a site is the twin's own physics replayed, noiseless, on that site's parameters
(:func:`labctl.simulators.droplet.landscape.pulse_outcome`): the reducer never sees it.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml
from scipy.stats import spearmanr

from labctl.analysis import overpotential_drift
from labctl.campaign.runner import run_campaign
from labctl.config import load_config
from labctl.errors import ConfigError
from labctl.lab.registry import experiment_factory, validate_lab_config
from labctl.lab.session import Lab
from labctl.plans.campaign import campaign
from labctl.plans.pulsed_charging import (
    OUTCOME_UNITS,
    PulseProtocol,
    pulsed_charging,
    reduce_pulsed_charging,
)
from labctl.plans.records import Budget
from labctl.plans.rundata import DocumentRun
from labctl.simulators.droplet.landscape import PulseOutcome, pulse_outcome
from labctl.simulators.electrochem.presets import ZINC_SULFATE, site_parameters
from labctl.simulators.electrochem.response import respond
from labctl.simulators.electrochem.state import CellState
from labctl.testing.configs import write_config
from labctl.testing.store import prepare_store
from labctl.testing.toy_campaign import RandomRecommender, move_and_count, peak_height
from labctl.units import ureg

CONFIGS = Path(__file__).resolve().parents[2] / "configs"
SIM = CONFIGS / "pulsed-charging-sim.yaml"
REAL = CONFIGS / "pulsed-charging-real.yaml"
SUBSTRATE = "zn-foil-pc01"
DROPLET_AREA = 7.85e-7  # m², the 1 mm droplet contact of the configs


def _sim_document(**campaign: Any) -> dict[str, Any]:
    document = yaml.safe_load(SIM.read_text(encoding="utf-8"))
    document["lab"]["data_directory"] = "data"
    document["campaign"].update(campaign)
    return document


def _inputs(density: float, on: float, off: float) -> dict[str, Any]:
    """A proposal: mA/cm², ms, ms."""
    return {
        "pulse_current_density": ureg.Quantity(density, "mA/cm**2"),
        "on_time": ureg.Quantity(on, "ms"),
        "off_time": ureg.Quantity(off, "ms"),
    }


def _truth(lab: Lab, row: int, column: int, protocol: PulseProtocol, cycles: int) -> PulseOutcome:
    """The twin's physics replayed, noiseless, on site (row, column): DI and efficiency."""
    cell = lab.world.cells["droplet"]
    parameters = lab.world.substrates[SUBSTRATE].parameters(row, column)
    state = CellState(
        **{
            **parameters,
            "temperature": cell.temperature,
            "cell_constant": cell.cell_constant * 100.0,
            "noise": 0.0,
        }
    )
    return pulse_outcome(
        state, protocol.peak_density, protocol.on_time, protocol.off_time, cycles=cycles
    )


# -- no lab: the resources budget, config checks, the proxy against the twin's physics ----------


def test_a_resources_budget_stops_the_campaign_cleanly() -> None:
    from bluesky import RunEngine

    engine = RunEngine({}, call_returns_result=True)
    done: list[str] = []
    engine.subscribe(lambda name, _doc: done.append(name) if name == "stop" else None)

    def sites_left() -> str | None:
        return "substrate exhausted: no fresh site left" if len(done) >= 2 else None

    state = engine(
        campaign(
            RandomRecommender(),
            move_and_count,
            peak_height,
            campaign_id="sites",
            budget=Budget(5, resources=sites_left),
        )
    ).plan_result
    assert len(state.completed) == 2
    assert state.stop_reason == "substrate exhausted: no fresh site left"
    # Nothing left at the start: no experiment at all.
    state = engine(
        campaign(
            RandomRecommender(),
            move_and_count,
            peak_height,
            campaign_id="none",
            budget=Budget(5, resources=lambda: "substrate exhausted"),
        )
    ).plan_result
    assert state.records == []
    assert state.stop_reason == "substrate exhausted"


def test_configs_validate_and_wrong_units_are_refused(tmp_path: Path) -> None:
    validate_lab_config(load_config(SIM))
    validate_lab_config(load_config(REAL))
    document = _sim_document()
    document["campaign"]["objectives"]["dendrite_proxy"]["units"] = "V"
    document["campaign"]["experiment_options"]["droplet"] = "stage"
    del document["campaign"]["space"]["off_time"]
    document["campaign"]["space"]["constraints"] = []
    with pytest.raises(ConfigError) as caught:
        validate_lab_config(load_config(write_config(tmp_path, document)))
    text = str(caught.value)
    assert "campaign.objectives.dendrite_proxy.units" in text
    assert "campaign.experiment_options.droplet" in text
    assert "campaign.space.off_time" in text
    assert experiment_factory("pulsed-charging").outcomes == frozenset(OUTCOME_UNITS)


def test_without_a_lab_only_the_reducer_is_available() -> None:
    section = load_config(SIM).model.campaign
    plan, reducer = pulsed_charging(None, section)
    assert reducer is reduce_pulsed_charging
    with pytest.raises(Exception, match="needs a lab"):
        plan(_inputs(10, 10, 10), {})


PROTOCOLS = [  # mA/cm², ms on, ms off: across the campaign's space
    (5, 20, 20),
    (20, 10, 30),
    (50, 10, 10),
    (100, 5, 15),
    (150, 40, 10),
    (200, 2, 8),
    (200, 30, 10),
]


def test_the_dendrite_proxy_follows_the_twins_dendrite_index() -> None:
    """Spearman ρ > 0.8 between the proxy from measured (noisy) curves and the true index.

    Each protocol runs on its own site of a substrate (per-site variation on), through the same
    physics the potentiostat twin answers from (:func:`respond`, noise on); the proxy is the
    reducer's :func:`overpotential_drift` of the measured curve.
    """
    rng = np.random.default_rng(11)
    base = {key: value for key, value in ZINC_SULFATE.items() if key != "electrode_area"}
    truth, proxy = [], []
    for column, (density, on_ms, off_ms) in enumerate(PROTOCOLS):
        parameters = site_parameters(
            base, seed=3, row=0, column=column, defaults={"electrode_area": DROPLET_AREA}
        )
        state = CellState(**{**parameters, "cell_constant": 500.0})
        on, off = on_ms * 1e-3, off_ms * 1e-3
        current = -density * 10.0 * DROPLET_AREA  # mA/cm² → A/m² is × 10
        technique = {
            "kind": "pulse_train",
            "on_current": current,
            "off_current": 0.0,
            "on_time": on,
            "off_time": off,
            "cycles": max(4, round(2.0 / (on + off))),
            "interval": min(on, off),
        }
        curve = respond(technique, state, rng)
        drift = overpotential_drift(
            curve["time"], curve["potential"], curve["current"], on_current=current
        )
        truth.append(state.memory.dendrite_index(state))
        proxy.append(drift.drift)
    correlation = spearmanr(truth, proxy).statistic
    assert correlation > 0.8, (truth, proxy)
    assert min(proxy) > 0  # every deposit roughened, none shorted


# -- on the twins ----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The module's lab folder: its configs and its data (store, site map)."""
    return tmp_path_factory.mktemp("pulsed")


@pytest.fixture(scope="module")
def lab(folder: Path) -> Iterator[Lab]:
    """One simulated droplet lab shared by the module's twin tests (sites are used up in turn)."""
    prepare_store(folder / "data" / "tiled")
    document = _sim_document(experiment_options={"droplet": "droplet", "plating_time": "1 s"})
    built = Lab.from_config(write_config(folder, document))
    yield built
    built.close()


def test_one_experiment_through_the_twins(lab: Lab) -> None:
    section = load_config(SIM).model.campaign
    assert section is not None
    section = section.model_copy(
        update={"experiment_options": {"droplet": "droplet", "plating_time": "1 s"}}
    )
    plan, reducer = pulsed_charging(lab, section)
    droplet = lab.devices["droplet"]
    site = droplet.next_site()
    documents: list[tuple[str, dict[str, Any]]] = []
    token = lab.RE.subscribe(lambda name, doc: documents.append((name, doc)))
    try:
        (uid,) = lab.RE(plan(_inputs(100, 10, 10), {"campaign": "one", "iteration": 0}))
    finally:
        lab.RE.unsubscribe(token)
    assert droplet.sites.state(site) == "used"
    assert not droplet.is_landed
    assert lab.store is not None
    stored = lab.store.run(uid)
    assert {"pulse_train", "strip", "site"} <= set(stored.streams)
    assert stored.stream("site")["droplet_site_state"].tolist() == ["used"]
    start = stored.start
    assert start["campaign"] == "one"
    assert start["ontology"]["coulombic_efficiency"]["iri"].startswith("https://w3id.org/emmo")
    assert start["pulsed_charging"]["protocol"]["cycles"] == 50
    outcome = reducer(stored)
    assert outcome == pytest.approx(reduce_pulsed_charging(DocumentRun(documents)), rel=1e-9)
    # The applied average: 100 mA/cm² at 50 % duty, through the nominal area both ways.
    assert outcome["plating_rate"] == pytest.approx(50.0, rel=2e-3)
    assert outcome["short_circuit"] == 0.0
    protocol = PulseProtocol.from_inputs(_inputs(100, 10, 10))
    truth = _truth(lab, site.row, site.column, protocol, cycles=50)
    # CE: the strip measures what the deposit kept (hydrogen evolution, SEI, dead metal lost),
    # within 0.5 % (the stripping transition's interpolation and the strip's own side current).
    assert outcome["coulombic_efficiency"] == pytest.approx(truth.efficiency, abs=5e-3)
    assert 0.9 < outcome["coulombic_efficiency"] < 1.0
    # The proxy: the roughened deposit's overpotential fall b·ln ρ, ρ = 1 + 10·DI at the end
    # (b = RT/(αzF) = 25.7 mV), less what the early pulses had already lost: 35–50 % of it on
    # the campaign's protocols — between a quarter of it and all of it.
    full = 25.7 * np.log(1 + 10 * truth.dendrite_index)
    assert full / 4 < outcome["dendrite_proxy"] < full


def test_a_short_campaign_stops_when_the_substrate_runs_out(lab: Lab, folder: Path) -> None:
    """Sobol, budget 5, three fresh sites left: three experiments, then a clean stop."""
    droplet = lab.devices["droplet"]
    fresh = [site for site, state in droplet.sites.states().items() if state == "fresh"]
    for site in fresh[3:]:
        droplet.sites.mark(site, "used")
    document = _sim_document(
        experiment_options={"droplet": "droplet", "plating_time": "1 s"},
        optimizer={"kind": "sobol", "seed": 1},
        budget={"experiments": 5},
    )
    loaded = load_config(write_config(folder, document, name="short.yaml"))
    result = run_campaign(loaded, lab=lab)
    state = result.state
    assert len(state.completed) == 3, [record.reason for record in state.records]
    assert state.stop_reason is not None
    assert state.stop_reason.startswith("substrate exhausted")
    for record in state.completed:
        outcome = record.outcome or {}
        assert set(OUTCOME_UNITS) <= set(outcome)
        assert outcome["plating_rate"] > 0
        assert 0.8 < outcome["coulombic_efficiency"] < 1.0
    assert lab.store is not None
    assert len(lab.store.runs(campaign=result.campaign_id)) == 3


@pytest.mark.slow
@pytest.mark.timeout(1800)
def test_the_full_campaign_config(tmp_path: Path) -> None:
    """configs/pulsed-charging-sim.yaml as shipped: 30 experiments, a non-trivial Pareto front.

    Measured with `labctl run` on 2 shared cores: 30 of 30 completed in 7.1 min (load ≈ 3), 19
    Pareto points, the proxy's Spearman ρ against the replayed true index 0.988; 14 min and
    29 of 30 on a busier machine (load ≈ 7).
    """
    from labctl.optimizers.objectives import Objectives
    from labctl.optimizers.pareto import non_dominated

    prepare_store(tmp_path / "data" / "tiled")
    loaded = load_config(write_config(tmp_path, _sim_document()))
    section = loaded.model.campaign
    assert section is not None
    with Lab.from_config(loaded) as lab:
        result = run_campaign(loaded, lab=lab)
        state = result.state
        assert state.proposals_done == 30
        assert len(state.completed) >= 27
        objectives = Objectives(section.objectives)
        Y = objectives.to_array([record.outcome for record in state.completed])
        front = non_dominated(objectives.maximization(Y))
        assert 3 <= int(front.sum()) < len(state.completed)
        # The proxy against the twin's truth over every completed experiment.
        assert lab.store is not None
        truth, proxy = _truth_and_proxy(lab, state.completed)
        assert spearmanr(truth, proxy).statistic > 0.8


def _truth_and_proxy(lab: Lab, records: Sequence[Any]) -> tuple[list[float], list[float]]:
    assert lab.store is not None
    truth, proxy = [], []
    for record in records:
        run = lab.store.run(record.uid)
        site = run.stream("site")
        row, column = (
            int(site["droplet_site_row"].iloc[0]),
            int(site["droplet_site_column"].iloc[0]),
        )
        info: Mapping[str, Any] = run.start["pulsed_charging"]["protocol"]
        protocol = PulseProtocol.from_inputs(
            {
                "pulse_current_density": f"{info['pulse_current_density']['value']} A/m**2",
                "on_time": f"{info['on_time']['value']} s",
                "off_time": f"{info['off_time']['value']} s",
            }
        )
        truth.append(_truth(lab, row, column, protocol, int(info["cycles"])).dendrite_index)
        proxy.append(float((record.outcome or {})["dendrite_proxy"]))
    return truth, proxy


def test_protocol_inputs_are_checked() -> None:
    with pytest.raises(Exception, match="needs"):
        PulseProtocol.from_inputs({"on_time": "1 ms"})
    protocol = PulseProtocol.from_inputs(
        {**_inputs(20, 10, 30), "reverse_current_density": "2 mA/cm**2"}
    )
    assert protocol.peak_density == pytest.approx(200.0)
    assert protocol.duty_cycle == pytest.approx(0.25)
    assert protocol.net_density == pytest.approx(0.25 * 200 - 0.75 * 20)
    assert copy.copy(protocol) == protocol


def _synthetic_run(
    train: tuple[np.ndarray, np.ndarray, np.ndarray],
    strip: tuple[np.ndarray, np.ndarray, np.ndarray],
    *,
    density: float,
) -> DocumentRun:
    """A stored run's documents built by hand: start metadata, pulse_train and strip streams."""
    area = DROPLET_AREA
    start = {
        "uid": "synthetic",
        "pulsed_charging": {
            "potentiostat": "pstat",
            "electrode_area": {"value": area, "units": "m**2"},
            "cutoff_potential": {"value": 0.3, "units": "V"},
            "protocol": {
                "pulse_current_density": {"value": density, "units": "A/m**2"},
                "reverse_current_density": {"value": 0.0, "units": "A/m**2"},
            },
        },
    }
    documents: list[tuple[str, dict[str, Any]]] = [("start", start)]
    for number, (name, (t, e, i)) in enumerate((("pulse_train", train), ("strip", strip))):
        keys = {
            f"pstat_{key}": {"units": unit}
            for key, unit in (("time", "s"), ("potential", "V"), ("current", "A"))
        }
        documents.append(("descriptor", {"uid": f"d{number}", "name": name, "data_keys": keys}))
        data = {"pstat_time": t, "pstat_potential": e, "pstat_current": i, "pstat_completed": 1}
        documents.append(
            ("event", {"descriptor": f"d{number}", "seq_num": 1, "time": 0.0, "data": data})
        )
    documents.append(("stop", {"exit_status": "success"}))
    return DocumentRun(documents)


def test_the_reducer_on_stored_curves_alone_including_a_short() -> None:
    density = 1000.0  # A/m², 100 mA/cm²
    current = -density * DROPLET_AREA
    pulses = 100  # 10 ms on, 10 ms off, sampled at the end of each
    t = np.arange(1, 2 * pulses + 1) * 0.01
    i = np.tile([current, 0.0], pulses)
    on_voltage = np.linspace(-0.200, -0.190, pulses)  # the overpotential falls by 10 mV
    e = np.empty(2 * pulses)
    e[0::2], e[1::2] = on_voltage, -0.01
    plated = -current * 0.01 * pulses
    strip_current = 1e-4
    ts = np.arange(1, 1001) * (1.3 * 0.98 * plated / strip_current / 1000)
    es = np.where(ts < 0.98 * plated / strip_current, 0.05, 2.4)
    strip = (ts, es, np.full(ts.size, strip_current))
    outcome = reduce_pulsed_charging(_synthetic_run((t, e, i), strip, density=density))
    assert outcome["plating_rate"] == pytest.approx(50.0, rel=1e-9)  # 100 mA/cm² at 50 % duty
    assert outcome["coulombic_efficiency"] == pytest.approx(0.98, abs=2e-3)
    assert outcome["dendrite_proxy"] == pytest.approx(
        1e3 * (np.median(on_voltage[-20:]) - np.median(on_voltage[1:21])), rel=1e-9
    )
    assert outcome["short_circuit"] == 0.0
    # A short at 60 % of the train: |E| collapses to i·R_short; the strip never leaves the plateau.
    shorted = e.copy()
    shorted[int(1.2 * pulses) :: 2] = current * 0.5
    flat = (ts, np.full(ts.size, strip_current * 0.5), np.full(ts.size, strip_current))
    outcome = reduce_pulsed_charging(_synthetic_run((t, shorted, i), flat, density=density))
    assert outcome["short_circuit"] == 1.0
    assert outcome["coulombic_efficiency"] == 0.0
    assert outcome["dendrite_proxy"] > 150  # the whole plating voltage, mV
