"""The real campaigns under chaos mode, and the invariants that must hold after them.

Shared by ``benchmarks/chaos_campaigns.py`` (hundreds of experiments, every fault kind) and
``tests/system/test_chaos_campaigns.py`` (a few experiments, a high fault rate). A campaign here is
the shipped config (``configs/electrolyte-sim.yaml`` or ``configs/pulsed-charging-sim.yaml``) with
four changes, all outside the lab's instruments and plans:

* Sobol proposals (the optimizer must not be the bottleneck of a long run);
* chaos mode on (``simulation.chaos``) and a failure policy that lets a long run go on
  (``retry: once`` and a ``max_consecutive`` larger than any run of bad luck);
* enough material for the budget: bigger stock bottles (in the world's pumps *and* in the
  robot's inventory, the same volumes) or a bigger substrate (more sites, same pitch);
* optionally a ``safety`` section, so that glovebox excursions suspend the RunEngine.

After the campaign, chaos is stopped and :func:`check_invariants` compares what the campaign
says, what the store holds, what the lab's files say and what the twins' world did:

(a) every completed iteration is in the store exactly once (read back through the store);
(b) every failed or interrupted attempt is recorded with a reason;
(c) the robot's inventory file lost what the pumps drew from the world's bottles;
(d) every substrate site that holds an electrode memory in the world is ``used`` or ``failed``
    in the site map, and no site served two runs;
(e) a safe end state once the lab's devices closed (as a session ends): no pump moving, the
    stage neither in alarm nor landed, every cell off.
"""

from __future__ import annotations

import copy
import json
import threading
import time
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from labctl.campaign.runner import CampaignResult, run_campaign
from labctl.config import LoadedConfig, load_config
from labctl.lab.session import Lab
from labctl.testing.configs import write_config
from labctl.testing.store import prepare_store
from labctl.units import parse_quantity

__all__ = [
    "CAMPAIGNS",
    "INSTRUMENT_KINDS",
    "ChaosCampaignReport",
    "chaos_document",
    "check_invariants",
    "run_chaos_campaign",
]

_CONFIGS = Path(__file__).resolve().parents[3] / "configs"

CAMPAIGNS = {
    "electrolyte": _CONFIGS / "electrolyte-sim.yaml",
    "pulsed-charging": _CONFIGS / "pulsed-charging-sim.yaml",
}
"""Campaign name → the shipped config it runs."""

INSTRUMENT_KINDS = (
    "clog",
    "plunger_overload",
    "unstable",
    "alarm",
    "contact_loss",
    "instrument_error",
)
"""The instruments' own fault kinds (pump, balance, stage, potentiostat) chaos mode injects."""

_STOCK_TOLERANCE = (0.02, 0.005)
"""(c): |inventory − world| ≤ 2 % of the drawn volume + 5 µL per stock."""


def _electrolyte_material(document: dict[str, Any], experiments: int) -> None:
    """Bottles large enough for ``experiments`` (and their retries): world and inventory alike.

    An experiment prepares 1.5 mL and rinses with 3 mL; a stock may serve all of a blend.
    """
    stock_ml = max(250, 2 * 2 * experiments)
    rinse_ml = max(1000, 2 * 4 * experiments)
    for device in document["devices"].values():
        options = (device.get("twin") or {}).get("options") or {}
        for stock in options.get("define_stocks", []):
            stock["volume"] = rinse_ml if stock["name"] == "rinse" else stock_ml
    robot = document["devices"]["robot"]["options"]
    for stock in robot["stocks"]:
        stock["volume"] = f"{stock_ml} mL"


def _droplet_material(document: dict[str, Any], experiments: int) -> None:
    """A substrate with a site for every attempt (retries included), at the shipped pitch.

    More rows first, then more columns, never beyond the stage's X and Y limits (a site out of
    reach is refused before the stage moves, and fails every attempt sent to it).

    Raises:
        ValueError: the stage cannot reach that many sites at this pitch.
    """
    substrate = document["devices"]["droplet"]["options"]["substrate"]
    limits = document["devices"][document["devices"]["droplet"]["options"]["stage"]]["limits"]
    pitch = float(parse_quantity(substrate["pitch"], "[length]").to("mm").magnitude)

    def reach(axis: str) -> int:
        origin = float(parse_quantity(substrate["origin"][axis], "[length]").to("mm").magnitude)
        high = float(parse_quantity(limits[axis]["high"], "[length]").to("mm").magnitude)
        return int((high - origin) / pitch + 1e-9) + 1

    needed = 2 * experiments + 8
    columns = int(substrate["columns"])
    rows = min(max(int(substrate["rows"]), -(-needed // columns)), reach("y"))
    columns = max(columns, -(-needed // rows))
    if columns > reach("x"):
        raise ValueError(
            f"{experiments} experiments need {needed} sites; the stage reaches "
            f"{reach('x') * reach('y')} at a pitch of {pitch:g} mm"
        )
    substrate["rows"], substrate["columns"] = rows, columns


def chaos_document(
    name: str,
    *,
    experiments: int,
    mean_interval: float,
    duration: float,
    kinds: Iterable[str] = (),
    weights: Mapping[str, float] | None = None,
    seed: int = 0,
    max_consecutive: int = 1000,
    safety: bool = True,
) -> dict[str, Any]:
    """The shipped campaign ``name`` (a key of :data:`CAMPAIGNS`) under chaos mode.

    Args:
        name: ``electrolyte`` or ``pulsed-charging``.
        experiments: the budget (proposals, completed or failed).
        mean_interval: mean wall seconds between faults on each twin.
        duration: wall seconds each fault lasts.
        kinds: the fault kinds allowed (empty: every kind each twin offers).
        weights: relative frequency of a kind on its twin (``simulation.chaos.weights``).
        seed: the fault schedule's seed (the proposals keep the Sobol seed 0).
        max_consecutive: failed attempts in a row that stop the campaign.
        safety: add a ``safety`` section (environment excursions suspend the RunEngine).
    """
    document = copy.deepcopy(dict(load_config(CAMPAIGNS[name]).raw))
    document["lab"] = {**document["lab"], "data_directory": "data"}
    document["simulation"] = {
        **document.get("simulation", {}),
        "chaos": {
            "mean_interval": f"{mean_interval} s",
            "duration": f"{duration} s",
            "kinds": sorted(kinds),
            "weights": dict(weights or {}),
            "seed": seed,
        },
    }
    if safety and any(
        (device.get("twin") or {}).get("kind") == "opcua-environment"
        for device in document["devices"].values()
    ):
        document["safety"] = {"period": "0.2 s", "settle": "0.5 s"}
    campaign = document["campaign"]
    campaign["optimizer"] = {"kind": "sobol", "seed": 0}
    campaign["budget"] = {"experiments": experiments}
    campaign["failure_policy"] = {"retry": "once", "max_consecutive": max_consecutive}
    if name == "electrolyte":
        _electrolyte_material(document, experiments)
    else:
        _droplet_material(document, experiments)
    return document


@dataclass
class ChaosCampaignReport:
    """What one campaign under chaos did, and which invariants failed.

    Args:
        name: the campaign (a key of :data:`CAMPAIGNS`).
        campaign_id: its id in the store.
        proposals: iterations run (completed or failed twice).
        completed: iterations completed.
        failed_attempts: attempts that failed (each with a reason).
        skipped: iterations that failed on both attempts.
        failures: error class (the reason's first word) → failed attempts.
        faults: twin → fault kind → faults injected.
        stop_reason: why the campaign ended.
        wall_time: seconds of the campaign (without opening the lab).
        longest_attempt: wall seconds of the slowest attempt (a hang would show here).
        violations: broken invariants, one sentence each (empty: all hold).
        details: numbers behind the invariants (stock differences, site counts, ...).
    """

    name: str
    campaign_id: str
    proposals: int
    completed: int
    failed_attempts: int
    skipped: int
    failures: dict[str, int]
    faults: dict[str, dict[str, int]]
    stop_reason: str | None
    wall_time: float
    longest_attempt: float
    violations: list[str] = field(default_factory=list)
    details: dict[str, Any] = field(default_factory=dict)

    def faults_by_kind(self) -> dict[str, int]:
        """Faults injected, by kind, over all twins."""
        total: Counter[str] = Counter()
        for kinds in self.faults.values():
            total.update(kinds)
        return dict(sorted(total.items()))


def _error_class(reason: str | None) -> str:
    if not reason:
        return "<no reason>"
    head = reason.split(":", 1)[0].strip()
    return head if head.isidentifier() else reason[:40]


def run_chaos_campaign(
    directory: Path,
    document: dict[str, Any],
    name: str,
    *,
    on_attempt: Any = None,
) -> ChaosCampaignReport:
    """Run ``document``'s campaign in ``directory`` (a fresh store), stop chaos, check.

    Args:
        directory: an empty folder for the config and the data directory.
        document: from :func:`chaos_document`.
        name: its key in :data:`CAMPAIGNS`.
        on_attempt: called with ``(record, state)`` after every attempt (progress).
    """
    prepare_store(directory / "data" / "tiled")
    config = load_config(write_config(directory, document))
    sites: dict[str, tuple[int, int]] = {}  # run uid → the site its ``site`` stream names
    lock = threading.Lock()
    last = [time.monotonic()]
    longest = [0.0]

    def on_record(record: Any, state: Any) -> None:
        now = time.monotonic()
        longest[0] = max(longest[0], now - last[0])
        last[0] = now
        if on_attempt is not None:
            on_attempt(record, state)

    with Lab.from_config(config) as lab:
        capture = _SiteCapture(sites, lock)
        token = lab.RE.subscribe(capture)  # type: ignore[no-untyped-call]
        started = time.monotonic()
        last[0] = started
        try:
            result = run_campaign(config, lab=lab, on_record=on_record)
        finally:
            lab.RE.unsubscribe(token)  # type: ignore[no-untyped-call]
            if lab.chaos is not None:
                lab.chaos.stop()
        wall = time.monotonic() - started
        faults: dict[str, Counter[str]] = {}
        for fault in lab.chaos.log if lab.chaos is not None else []:
            faults.setdefault(fault.twin, Counter())[fault.kind] += 1
        report = _summary(name, result, faults, wall, longest[0])
        check_invariants(lab, config, result, sites, report)
    return report


class _SiteCapture:
    """A RunEngine subscriber noting the site each run's ``site`` stream names."""

    def __init__(self, sites: dict[str, tuple[int, int]], lock: threading.Lock) -> None:
        self.sites = sites
        self.lock = lock
        self.run: str | None = None
        self.streams: dict[str, str] = {}

    def __call__(self, kind: str, document: dict[str, Any]) -> None:
        if kind == "start":
            self.run = str(document["uid"])
        elif kind == "descriptor":
            self.streams[str(document["uid"])] = str(document.get("name"))
        elif kind == "event" and self.streams.get(str(document["descriptor"])) == "site":
            data = document["data"]
            row = next(v for k, v in data.items() if k.endswith("site_row"))
            column = next(v for k, v in data.items() if k.endswith("site_column"))
            if self.run is not None and int(row) >= 0:
                with self.lock:
                    self.sites[self.run] = (int(row), int(column))


def _summary(
    name: str,
    result: CampaignResult,
    faults: dict[str, Counter[str]],
    wall: float,
    longest: float,
) -> ChaosCampaignReport:
    state = result.state
    failed = [r for r in state.records if r.status != "completed"]
    by_iteration = Counter(r.iteration for r in failed)
    completed = {r.iteration for r in state.records if r.status == "completed"}
    return ChaosCampaignReport(
        name=name,
        campaign_id=result.campaign_id,
        proposals=state.proposals_done,
        completed=len(completed),
        failed_attempts=len(failed),
        skipped=sum(1 for i, n in by_iteration.items() if n >= 2 and i not in completed),
        failures=dict(Counter(_error_class(r.reason) for r in failed).most_common()),
        faults={twin: dict(sorted(kinds.items())) for twin, kinds in sorted(faults.items())},
        stop_reason=state.stop_reason,
        wall_time=wall,
        longest_attempt=longest,
    )


def check_invariants(
    lab: Lab,
    config: LoadedConfig,
    result: CampaignResult,
    sites: dict[str, tuple[int, int]],
    report: ChaosCampaignReport,
) -> None:
    """Check (a)–(e) of the module docstring; add each broken one to ``report.violations``."""
    _check_store(lab, config, result, report)
    if "robot" in lab.devices:
        _check_stocks(lab, config, report)
    if "droplet" in lab.devices:
        _check_sites(lab, result, sites, report)
    lab.close_devices()  # what a session does when it ends: each device leaves its hardware safe
    _check_end_state(lab, report)


def _check_store(
    lab: Lab, config: LoadedConfig, result: CampaignResult, report: ChaosCampaignReport
) -> None:
    """(a) and (b), read back through the store with a reducer built without a lab."""
    from labctl.campaign.history import campaign_history
    from labctl.lab.registry import experiment_factory

    section = config.model.campaign
    assert section is not None
    assert lab.store is not None
    _, reducer = experiment_factory(section.experiment)(None, section)
    history = campaign_history(lab.store, result.campaign_id, reducer)
    stored = Counter(r.iteration for r in history if r.status == "completed")
    ran = {r.iteration for r in result.state.records if r.status == "completed"}
    lost = sorted(ran - set(stored))
    repeated = sorted(i for i, n in stored.items() if n > 1)
    unknown = sorted(set(stored) - ran)
    report.details["store"] = {
        "completed": len(stored),
        "lost": len(lost),
        "repeated": len(repeated),
        "failed_runs": sum(1 for r in history if r.status == "failed"),
        "interrupted_runs": sum(1 for r in history if r.status == "interrupted"),
    }
    if lost:
        report.violations.append(f"(a) completed iterations missing from the store: {lost}")
    if repeated:
        report.violations.append(f"(a) iterations completed more than once: {repeated}")
    if unknown:
        report.violations.append(f"(a) the store has completions the campaign lacks: {unknown}")
    for record in [*history, *result.state.records]:
        if record.status != "completed" and not (record.reason or "").strip():
            report.violations.append(
                f"(b) iteration {record.iteration} attempt {record.attempt} "
                f"{record.status} without a reason"
            )


def _check_stocks(lab: Lab, config: LoadedConfig, report: ChaosCampaignReport) -> None:
    """(c) the inventory file against the world's bottles, stock by stock (mL).

    What the inventory booked as dispensed must have left the bottle; what left the bottle must
    be booked, as dispensed or as discarded (a failed addition is booked whole, since the pump
    may have drawn any part of it): dispensed ≤ drawn ≤ dispensed + discarded, within tolerance.
    """
    robot = config.model.devices["robot"].options
    path = config.data_directory / str(robot["inventory"])
    stored = json.loads(path.read_text(encoding="utf-8"))["stocks"]
    world = lab.world.snapshot()["stocks"]
    world_start = {
        stock["name"]: float(stock["volume"])
        for device in config.raw["devices"].values()
        for stock in ((device.get("twin") or {}).get("options") or {}).get("define_stocks", [])
    }
    relative, absolute = _STOCK_TOLERANCE
    numbers: dict[str, dict[str, float]] = {}
    for stock in robot["stocks"]:
        name = stock["name"]
        dispensed = stored[name]["dispensed"] / 1e6  # nL → mL
        discarded = stored[name]["discarded"] / 1e6
        drawn = world_start[name] - float(world[name])
        numbers[name] = {
            "drawn": round(drawn, 4),
            "dispensed": round(dispensed, 4),
            "discarded": round(discarded, 4),
        }
        slack = relative * abs(drawn) + absolute
        if dispensed > drawn + slack:
            report.violations.append(
                f"(c) stock {name}: booked {dispensed:.3f} mL dispensed, the bottle lost "
                f"only {drawn:.3f} mL"
            )
        if drawn > dispensed + discarded + slack:
            report.violations.append(
                f"(c) stock {name}: the bottle lost {drawn:.3f} mL, the inventory booked "
                f"{dispensed:.3f} mL dispensed + {discarded:.3f} mL discarded"
            )
    report.details["stocks_ml"] = numbers


def _check_sites(
    lab: Lab,
    result: CampaignResult,
    sites: dict[str, tuple[int, int]],
    report: ChaosCampaignReport,
) -> None:
    """(d) the site map file against the world's substrate and the runs' sites."""
    droplet = lab.devices["droplet"]
    states = {(site.row, site.column): state for site, state in droplet.sites.states().items()}
    substrate_name = droplet.sites.name
    substrate = lab.world.substrates[substrate_name]
    touched = substrate.touched()
    wrong = [site for site in touched if states.get(site) not in ("used", "failed")]
    if wrong:
        report.violations.append(f"(d) sites measured in the world but fresh in the map: {wrong}")
    twice = [site for site, n in Counter(sites.values()).items() if n > 1]
    if twice:
        report.violations.append(f"(d) sites that served more than one run: {twice}")
    completed = {r.uid for r in result.state.records if r.status == "completed"}
    not_used = [sites[uid] for uid in completed if uid in sites and states[sites[uid]] != "used"]
    if not_used:
        report.violations.append(f"(d) completed runs on sites not marked used: {not_used}")
    report.details["sites"] = {
        **Counter(states.values()),
        "measured_in_world": len(touched),
        "runs_with_a_site": len(sites),
    }


def _check_end_state(lab: Lab, report: ChaosCampaignReport) -> None:
    """(e) once the devices closed: pumps idle, stage lifted and not in alarm, cells off."""
    unsafe: list[str] = []
    for name, twin in lab.twins.items():
        bus = getattr(twin, "bus", None)
        for address, pump in getattr(bus, "pumps", {}).items():
            if pump.busy:
                unsafe.append(f"{name}: pump {address} still moving")
        if hasattr(twin, "machine") and hasattr(twin, "contact"):
            if str(twin.state).startswith("Alarm"):
                unsafe.append(f"{name}: stage in alarm")
            if twin.contact:
                unsafe.append(f"{name}: droplet still landed")
        if hasattr(twin, "output_on") and twin.output_on:
            unsafe.append(f"{name}: cell on")
    report.violations.extend(f"(e) {problem}" for problem in unsafe)
