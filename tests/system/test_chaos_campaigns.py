"""The real campaigns under chaos mode: nothing lost, repeated, hung or left unsafe.

``configs/electrolyte-sim.yaml`` (six dosing pumps, a transfer pump, a balance, a potentiostat,
glovebox and room controllers) and ``configs/pulsed-charging-sim.yaml`` (stage, pump,
potentiostat) run with Sobol proposals while the instruments' own faults — pump clogs and
plunger overloads, an unstable balance, stage alarms and lost droplet contact, potentiostat
errors — hit every twin every fraction of a second. After each campaign, with chaos stopped,
:func:`labctl.testing.reliability.chaos_campaigns.check_invariants` checks the store (every
completed iteration once, every failure with its reason), the robot's inventory against the
bottles, the substrate map against the world, and a safe end state. The default suite runs a few
experiments of each; ``-m slow`` runs 30 with every fault kind, and
``benchmarks/chaos_campaigns.py`` the hundreds of ``benchmarks/reliability.md``.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from labctl.testing.reliability.chaos_campaigns import (
    INSTRUMENT_KINDS,
    ChaosCampaignReport,
    chaos_document,
    run_chaos_campaign,
)


def _run(tmp_path: Path, name: str, experiments: int, **chaos: object) -> ChaosCampaignReport:
    document = chaos_document(name, experiments=experiments, seed=11, **chaos)  # type: ignore[arg-type]
    report = run_chaos_campaign(tmp_path, document, name)
    assert report.violations == [], report
    assert report.proposals == experiments, report.stop_reason
    assert report.completed + report.skipped == experiments
    assert sum(report.failures.values()) == report.failed_attempts
    assert "<no reason>" not in report.failures
    return report


@pytest.mark.timeout(300)
def test_pulsed_charging_under_instrument_faults(tmp_path: Path) -> None:
    report = _run(
        tmp_path,
        "pulsed-charging",
        3,
        mean_interval=0.3,
        duration=0.2,
        kinds=INSTRUMENT_KINDS,
    )
    assert report.faults_by_kind(), "no fault was injected"
    assert set(report.faults_by_kind()) <= set(INSTRUMENT_KINDS)
    assert report.details["sites"]["runs_with_a_site"] >= report.completed


@pytest.mark.timeout(300)
def test_electrolyte_under_instrument_faults(tmp_path: Path) -> None:
    report = _run(
        tmp_path,
        "electrolyte",
        3,
        mean_interval=0.5,
        duration=0.2,
        kinds=INSTRUMENT_KINDS,
        safety=False,
    )
    assert report.faults_by_kind(), "no fault was injected"
    stocks = report.details["stocks_ml"]
    assert sum(stock["dispensed"] for stock in stocks.values()) >= 1.5 * report.completed - 0.01


@pytest.mark.slow
@pytest.mark.timeout(1800)
@pytest.mark.parametrize(("name", "interval"), [("pulsed-charging", 1.0), ("electrolyte", 3.0)])
def test_thirty_experiments_under_every_fault_kind(
    tmp_path: Path, name: str, interval: float
) -> None:
    report = _run(tmp_path, name, 30, mean_interval=interval, duration=0.5)
    assert report.completed > 0


def test_a_long_droplet_campaign_gets_sites_only_within_the_stages_reach() -> None:
    """A 1000-experiment soak once got sites at x = 142.5 mm, refused by the 140 mm limit."""
    from labctl.testing.reliability.chaos_campaigns import chaos_document

    document = chaos_document("pulsed-charging", experiments=1000, mean_interval=10, duration=1)
    substrate = document["devices"]["droplet"]["options"]["substrate"]
    assert substrate["rows"] * substrate["columns"] >= 2 * 1000
    assert 20 + (substrate["columns"] - 1) * 2.5 <= 140
    assert 20 + (substrate["rows"] - 1) * 2.5 <= 140
    with pytest.raises(ValueError, match="the stage reaches 2401"):
        chaos_document("pulsed-charging", experiments=1300, mean_interval=10, duration=1)
