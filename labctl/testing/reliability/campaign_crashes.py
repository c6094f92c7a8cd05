"""Crash trials on the real simulated campaigns: a small copy of a campaign's config, its state.

The electrolyte and pulsed-charging campaigns keep lab state outside the store: the dispensing
robot's stock inventory (``<data>/dispensing/inventory.json``, and the mixing vial's state next to
it) and the droplet cell's substrate site map (``<data>/droplet/<substrate>.sites.json``). A crash
trial copies the project's config into a temporary folder with its own data directory and a small
budget, kills ``labctl run`` (see :mod:`labctl.testing.reliability.kill_points`), resumes, and then
checks what survived on disk — the store's runs and these files — against each other.

The twins (the "world") live inside the killed process, so their state dies with it: what the
world did can only be read from what it left on disk, i.e. the runs' recorded readings.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml

from labctl.config import load_config
from labctl.store.catalog import Store
from labctl.testing.store import campaign_runs as stored_campaign_runs
from labctl.testing.store import prepare_store

__all__ = [
    "CAMPAIGNS",
    "campaign_config",
    "campaign_runs",
    "check_inventory",
    "check_runs",
    "check_safe_start",
    "check_sites",
    "inventory_balance",
    "inventory_file",
    "read_json",
    "resume",
    "sites_file",
]

_PROJECT_CONFIGS = Path(__file__).resolve().parents[3] / "configs"

CAMPAIGNS = {"electrolyte": "electrolyte-sim.yaml", "pulsed-charging": "pulsed-charging-sim.yaml"}
"""Campaign name → the project's config it is copied from."""


def campaign_config(directory: Path, campaign: str, budget: int, *, initial: int = 2) -> Path:
    """Copy the project's ``campaign`` config into ``directory``, with data in ``directory/data``.

    Args:
        directory: where the config and its data directory (an initialised store) go.
        campaign: a key of :data:`CAMPAIGNS`.
        budget: experiments of the campaign.
        initial: Sobol experiments before BoTorch starts fitting (so fits happen in a short
            campaign).
    """
    source = _PROJECT_CONFIGS / CAMPAIGNS[campaign]
    document: dict[str, Any] = yaml.safe_load(source.read_text(encoding="utf-8"))
    if "extends" in document:
        document["extends"] = str((source.parent / document["extends"]).resolve())
    document["lab"] = {**document["lab"], "data_directory": str(directory / "data")}
    document["store"] = {**(document.get("store") or {}), "keep_server": "0 s"}
    section = document["campaign"]
    section["budget"] = {**section.get("budget", {}), "experiments": budget}
    optimizer = section["optimizer"]
    optimizer["options"] = {**(optimizer.get("options") or {}), "initial_experiments": initial}
    prepare_store(directory / "data" / "tiled")
    path = directory / f"{campaign}.yaml"
    path.write_text(yaml.safe_dump(document, sort_keys=False), encoding="utf-8")
    return path


def inventory_file(config: Path) -> Path:
    """The dispensing robot's stock inventory of ``config``'s lab."""
    loaded = load_config(config)
    return loaded.data_directory / str(loaded.model.devices["robot"].options["inventory"])


def sites_file(config: Path) -> Path:
    """The droplet cell's substrate site map of ``config``'s lab."""
    loaded = load_config(config)
    substrate = loaded.model.devices["droplet"].options["substrate"]
    return loaded.data_directory / str(substrate["state_file"])


def read_json(path: Path) -> Any:
    """A state file's content (it must be whole JSON: a torn file is a bug)."""
    return json.loads(path.read_text(encoding="utf-8"))


def labctl(*arguments: str) -> list[str]:
    """``labctl ARGUMENTS`` as a command line for this Python."""
    return [sys.executable, "-P", "-m", "labctl.testing.toy_cli", *arguments]


def resume(config: Path, runs: list[dict[str, Any]], *, timeout: float = 900.0) -> str:
    """``labctl resume`` the campaign of ``runs`` (or ``labctl run`` when none opened); its output.

    Raises:
        AssertionError: the command failed or did not end within ``timeout`` s (a hang).
    """
    campaigns = {str(run["campaign"]) for run in runs}
    assert len(campaigns) <= 1, campaigns
    arguments = (
        ("resume", campaigns.pop(), "--config", str(config), "--no-report")
        if campaigns
        else ("run", str(config), "--no-report")
    )
    try:
        finished = subprocess.run(
            labctl(*arguments),
            capture_output=True,
            text=True,
            timeout=timeout,
            env={**os.environ, "COLUMNS": "200"},
            check=False,
        )
    except subprocess.TimeoutExpired as error:
        raise AssertionError(f"labctl {' '.join(arguments)} hung for {timeout:g} s") from error
    output = finished.stdout + finished.stderr
    assert finished.returncode == 0, (
        f"labctl {' '.join(arguments)} exited {finished.returncode}:\n{output}"
    )
    return output


def campaign_runs(config: Path) -> list[dict[str, Any]]:
    """Every campaign run (:func:`labctl.testing.store.campaign_runs`) with its readings.

    ``streams``: stream → its table as a list of row dicts, for the streams that read back (an
    interrupted run's unreadable streams are left out).
    """
    runs = stored_campaign_runs(config)
    with Store.for_config(load_config(config), in_process=True) as store:
        for run in runs:
            streams: dict[str, list[dict[str, Any]]] = {}
            for stream in ("preparation", "site"):
                try:
                    frame = store.run(run["uid"]).stream(stream)
                except Exception:  # absent, or torn by the kill: not recorded
                    continue
                streams[stream] = frame.to_dict("records")
            run["streams"] = streams
    return runs


# -- invariants -----------------------------------------------------------------------------------


def check_runs(before: list[dict[str, Any]], after: list[dict[str, Any]], budget: int) -> None:
    """Nothing completed is lost or repeated; what the kill interrupted stays recorded as such.

    ``before``: the runs right after the kill; ``after``: after ``labctl resume`` ended.

    Raises:
        AssertionError: a run of ``before`` is missing or changed its record, an iteration has two
            successful runs or more attempts than ``retry: once`` allows, an iteration of the
            budget has neither a success nor its retries spent, or resume left a run open.
    """
    by_uid = {run["uid"]: run for run in after}
    for run in before:
        assert run["uid"] in by_uid, f"run {run['uid']} (iteration {run['iteration']}) was lost"
        if run["status"] is not None:
            assert by_uid[run["uid"]]["status"] == run["status"], run
        else:  # interrupted: it stays so (resume never finishes a dead process's run)
            assert by_uid[run["uid"]]["status"] is None, by_uid[run["uid"]]
    interrupted = [run for run in after if run["status"] is None]
    assert len(interrupted) <= 1, f"more than the one killed run left open: {interrupted}"
    assert all(run["uid"] in {r["uid"] for r in before} for run in interrupted), interrupted
    iterations = sorted({run["iteration"] for run in after})
    assert iterations == list(range(budget)), f"iterations {iterations} for a budget of {budget}"
    for iteration in iterations:
        attempts = [run for run in after if run["iteration"] == iteration]
        successes = [run for run in attempts if run["status"] == "success"]
        assert len(successes) <= 1, f"iteration {iteration} repeated: {attempts}"
        assert len(attempts) <= 2, f"iteration {iteration}: {len(attempts)} attempts (retry once)"
        assert successes or len(attempts) == 2, f"iteration {iteration} neither done nor retried"


def inventory_balance(config: Path, runs: list[dict[str, Any]]) -> dict[str, dict[str, float]]:
    """Component masses (g) booked out of the stocks vs recorded as prepared by the runs.

    Returns component → ``booked`` (the inventory's dispensed volumes × each stock's density and
    mass fractions), ``recorded`` (the sum over runs whose ``preparation`` reading survived: the
    balance-measured total mass split by the achieved molality and solvent fractions) and
    ``unrecorded`` (an upper bound of what the runs without that reading may have drawn: their
    whole planned amount at the densest stock's density).
    """
    from labctl.devices.dispensing.recipe import salt_molar_mass
    from labctl.devices.dispensing.robot import DispensingRobotOptions
    from labctl.units import parse_quantity, to_magnitude

    loaded = load_config(config)
    options = DispensingRobotOptions.model_validate(loaded.model.devices["robot"].options)
    section = loaded.model.campaign
    assert section is not None
    experiment = section.experiment_options
    salt = str(experiment["salt"])
    molar_mass = to_magnitude(salt_molar_mass(salt), "kg/mol")
    densest = max(to_magnitude(stock.density, "g/mL") for stock in options.stocks)
    amount = to_magnitude(parse_quantity(experiment["amount"], "[volume]"), "mL")
    robot = str(experiment.get("robot", "robot"))
    result: dict[str, dict[str, float]] = {}

    def add(component: str, key: str, grams: float) -> None:
        entry = result.setdefault(component, {"booked": 0.0, "recorded": 0.0, "unrecorded": 0.0})
        entry[key] += grams

    inventory = read_json(inventory_file(config))
    for stock in options.stocks:
        account = inventory["stocks"][stock.name]
        grams = account["dispensed"] / 1e6 * to_magnitude(stock.density, "g/mL")
        for component, fraction in stock.mass_fractions().items():
            add(component, "booked", grams * fraction)
    for run in runs:
        rows = run["streams"].get("preparation")
        if rows:
            row = rows[0]
            total = float(row[f"{robot}_total_mass"]) * 1000.0  # kg → g
            salt_per_solvent = float(row[f"{robot}_molality"]) * molar_mass
            solvent = total / (1.0 + salt_per_solvent)
            add(salt, "recorded", total - solvent)
            for name, fraction in json.loads(str(row[f"{robot}_solvents"])).items():
                add(name, "recorded", solvent * float(fraction))
        else:
            inputs = run["metadata"].get("inputs", {})
            salt_per_solvent = float(inputs[experiment["molality_input"]]["value"]) * molar_mass
            most = amount * densest * 1.1
            add(salt, "unrecorded", most * salt_per_solvent / (1.0 + salt_per_solvent))
            for name in experiment["solvents"]:
                add(name, "unrecorded", most * float(inputs[name]["value"]))
    return result


def check_inventory(
    config: Path, runs: list[dict[str, Any]], *, relative: float = 0.01, absolute: float = 0.005
) -> dict[str, dict[str, float]]:
    """The inventory accounts for every recorded preparation, and for no more than was possible.

    For each component: recorded − tolerance ≤ booked ≤ recorded + unrecorded + tolerance, where
    the tolerance is ``relative`` × recorded + ``absolute`` g per recorded run (the balance's and
    the pumps' resolution: the robot itself refuses additions off by more than 5 % + 2 mg). With
    no run left unrecorded the two must agree within the tolerance. Also: the file is whole, no
    reservation of the killed process survives resume, and the mixing vial is back in service.

    Returns:
        :func:`inventory_balance`'s table.
    """
    table = inventory_balance(config, runs)
    recorded_runs = sum(1 for run in runs if run["streams"].get("preparation"))
    for component, entry in table.items():
        tolerance = relative * entry["recorded"] + absolute * recorded_runs
        low, high = entry["recorded"] - tolerance, entry["recorded"] + entry["unrecorded"]
        assert low <= entry["booked"] <= high + tolerance, (
            f"{component}: the inventory booked {entry['booked']:.4f} g out of the stocks; the "
            f"runs recorded {entry['recorded']:.4f} g prepared, and runs without a record could "
            f"have drawn up to {entry['unrecorded']:.4f} g more"
        )
    inventory = read_json(inventory_file(config))
    assert inventory["reservations"] == {}, f"reservations left: {inventory['reservations']}"
    vials = read_json(inventory_file(config).with_suffix(".vials.json"))
    assert set(vials.values()) == {"fresh"}, f"mixing vial not back in service: {vials}"
    return table


def check_sites(
    config: Path, runs: list[dict[str, Any]], claimed_at_kill: set[str], killed: set[str]
) -> dict[str, str]:
    """No site used twice; every run's site is marked; a site claimed before the kill stays so.

    Args:
        config: the campaign's config.
        runs: the runs after resume.
        claimed_at_kill: site keys (``"row,column"``) not fresh in the map right after the kill.
        killed: uids of the runs stored before the kill.

    Checks: the sites the runs recorded are distinct and each is ``used`` or ``failed`` in the
    map; the map's claimed sites are the first ones in claim order (row by row: claims take the
    first fresh site, so nothing was skipped or handed back); every claimed site not recorded by
    a run is accounted for by a run without a site reading (each claims once) or the one
    experiment the kill cut short before its run was stored; no run started after the kill
    recorded a site claimed before it.

    Returns:
        The map's sites (key → state).
    """
    document = read_json(sites_file(config))
    states: dict[str, str] = dict(document["sites"])
    recorded: list[tuple[str, str]] = []
    for run in runs:
        rows = run["streams"].get("site")
        if rows:
            row = rows[-1]
            recorded.append(
                (f"{int(row['droplet_site_row'])},{int(row['droplet_site_column'])}", run["uid"])
            )
    keys = [key for key, _ in recorded]
    assert len(keys) == len(set(keys)), f"a site was used by two runs: {sorted(recorded)}"
    for key, uid in recorded:
        assert states.get(key) in ("used", "failed"), (
            f"run {uid}'s site {key} is {states.get(key)}"
        )
    order = [f"{r},{c}" for r in range(document["rows"]) for c in range(document["columns"])]
    assert set(states) == set(order[: len(states)]), f"claimed sites are not a prefix: {states}"
    assert set(claimed_at_kill) <= set(states), "a site claimed before the kill became fresh"
    reused = [(key, uid) for key, uid in recorded if uid not in killed and key in claimed_at_kill]
    assert not reused, f"runs after the kill used sites claimed before it: {reused}"
    without = sum(1 for run in runs if not run["streams"].get("site"))
    assert len(states) - len(keys) <= without + 1, (
        f"{len(states) - len(keys)} claimed sites no run recorded, {without} runs without a site"
    )
    return states


def check_safe_start(config: Path) -> dict[str, Any]:
    """Start the lab of ``config`` as ``labctl resume`` does; check it starts from a safe state.

    After a ``kill -9`` nothing ran the lab's shutdown, so the lab's own start-up must bring the
    hardware to a known state before the first experiment: every syringe pump initialised (plunger
    at home, syringe empty, no error), the stage homed and idle with the head at or above its safe
    travel height, the droplet cell believed lifted. (The twins start afresh here, as hardware
    would be power-cycled after a crash; what is checked is what labctl does on start, and that a
    killed process's device claims do not block the new one.)

    Returns:
        What was checked, device → values.

    Raises:
        AssertionError: a device is not in its safe state.
    """
    from labctl.devices.dispensing.pump import SyringePump
    from labctl.lab.session import Lab
    from labctl.units import to_magnitude

    seen: dict[str, Any] = {}
    with Lab.from_config(config, with_store=False) as lab:
        for name, device in lab.devices.items():
            if isinstance(device, SyringePump):
                plunger = int(device.plunger.get())
                seen[name] = {"plunger": plunger}
                assert plunger == 0, f"pump {name}: plunger at {plunger}, not initialised home"
        droplet = lab.devices.get("droplet")
        if droplet is not None:
            stage = droplet.stage
            safe_z = to_magnitude(droplet.options.safe_z, "mm")
            x, y, z = stage.position
            seen["stage"] = {"state": str(stage.state.get()), "position": (x, y, z)}
            seen["droplet"] = {"landed": droplet.is_landed}
            assert str(stage.state.get()) == "Idle", f"stage {stage.state.get()} after start"
            assert z >= safe_z, f"stage Z {z} mm below the safe travel height {safe_z} mm"
            assert not droplet.is_landed, "droplet cell believed landed at start"
    return seen
