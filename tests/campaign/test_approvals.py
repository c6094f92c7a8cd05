"""The approval gate: proposals outside the envelope wait for an operator; rejections are kept."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

import pytest

from labctl.campaign.approvals import ApprovalBook, ApprovalError, EnvelopeApproval
from labctl.config import Envelope, parse_config
from labctl.errors import ConfigError
from labctl.plans.campaign import campaign
from labctl.plans.records import Budget
from labctl.testing.toy_campaign import RandomRecommender, move_and_count, peak_height
from labctl.units import ureg


def test_the_envelope_names_what_is_outside() -> None:
    envelope = Envelope.from_config(
        {
            "salt_molality": {"high": "1.5 mol/kg"},
            "temperature": {"low": "15 degC", "high": "45 degC"},
        }
    )
    inside = {
        "salt_molality": ureg.Quantity(1.0, "mol/kg"),
        "temperature": ureg.Quantity(300, "K"),
    }
    assert envelope.outside(inside) is None
    outside = {
        "salt_molality": ureg.Quantity(1.9, "mol/kg"),
        "temperature": ureg.Quantity(50, "degC"),
    }
    reason = envelope.outside(outside)
    assert reason is not None
    assert "salt_molality = 1.9 mol / kg is above the envelope's 1.5 mol / kg" in reason
    assert "temperature" in reason


@pytest.mark.parametrize(
    ("envelope", "words"),
    [
        ({"x": {"low": "2 V", "high": "1 V"}}, "low is above high"),
        ({"x": {"low": "2 V", "high": "1 s"}}, "different units"),
        ({"x": {"middle": 1}}, "expected {low"),
        ({"x": {"high": "1 furlongs per fortnight squared per"}}, "x"),
    ],
)
def test_bad_envelopes_are_config_errors(envelope: dict[str, Any], words: str) -> None:
    with pytest.raises(ConfigError, match="approval") as caught:
        Envelope.from_config(envelope)
    assert words in str(caught.value)


def test_a_bad_envelope_in_a_config_names_the_key_path() -> None:
    text = """
lab: {name: t}
campaign:
  name: c
  experiment: toy-gaussian
  space: {position: {low: -1, high: 1}}
  objectives: {signal: {direction: maximize}}
  budget: {experiments: 2}
  approval: {envelope: {position: {low: 1, high: 0}}}
"""
    with pytest.raises(ConfigError) as caught:
        parse_config(text)
    assert "campaign.approval.envelope" in str(caught.value)


def test_the_book_keeps_requests_and_decisions(tmp_path: Path) -> None:
    book = ApprovalBook(tmp_path)
    book.request("c1", 3, {"x": ureg.Quantity(2, "V")}, "x = 2 V is above the envelope's 1 V")
    (pending,) = book.pending()
    assert (pending.campaign, pending.iteration, pending.inputs) == ("c1", 3, {"x": "2 V"})
    decided = book.decide("c1", 3, "approved", by="ada")
    assert decided.decision == "approved"
    assert ApprovalBook(tmp_path).decision("c1", 3) == "approved"  # another process sees it
    assert book.pending() == []
    with pytest.raises(ApprovalError, match="already approved by ada"):
        book.decide("c1", 3, "rejected", by="bob")
    with pytest.raises(ApprovalError, match="no approval request for c1 #4"):
        book.decide("c1", 4, "approved", by="bob")


def test_the_campaign_waits_for_the_operator_and_keeps_rejections(
    tmp_path: Path, run_engine: Any
) -> None:
    book = ApprovalBook(tmp_path)
    gate = EnvelopeApproval(Envelope.from_config({"position": {"high": 0}}), book, poll=0.05)
    decisions: list[tuple[int, str]] = []
    finished = threading.Event()

    def operator() -> None:
        """Approves the first flagged proposal, rejects the second, approves the rest."""
        while not finished.is_set():
            for item in book.pending():
                choice = "rejected" if len(decisions) == 1 else "approved"
                time.sleep(0.2)
                book.decide(item.campaign, item.iteration, choice, by="ada")  # type: ignore[arg-type]
                decisions.append((item.iteration, choice))
            time.sleep(0.02)

    recommender = RandomRecommender(seed=1)
    person = threading.Thread(target=operator)
    person.start()
    states: list[Any] = []

    def keep() -> Any:
        states.append(
            (
                yield from campaign(
                    recommender,
                    move_and_count,
                    peak_height,
                    campaign_id="gate",
                    budget=Budget(6),
                    approval=gate,
                )
            )
        )

    try:
        run_engine(keep())
    finally:
        finished.set()
        person.join()
    state = states[0]
    flagged = [r for r in state.records if float(r.inputs["position"]) > 0]
    assert len(decisions) >= 2, "this seed proposes at least two positions above 0"
    assert len(decisions) == len(flagged)
    approved_iteration, _ = decisions[0]
    rejected_iteration, _ = decisions[1]
    by_iteration = {r.iteration: r for r in state.records}
    assert by_iteration[approved_iteration].status == "completed"
    rejected = by_iteration[rejected_iteration]
    assert rejected.status == "failed"
    assert rejected.uid is None  # nothing ran
    assert "rejected by the operator" in (rejected.reason or "")
    assert len(state.records) == 6
    assert all(r.status == "completed" for r in state.records if r not in flagged)
    # The optimizer was told the rejection as a failure (never proposed again).
    told = {round(float(inputs["position"]), 12): outcome for inputs, outcome in recommender.told}
    assert told[round(float(rejected.inputs["position"]), 12)] is None


def test_approvals_are_listed_and_decided_from_the_command_line(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from labctl.cli import app

    config = tmp_path / "lab.yaml"
    config.write_text("lab: {name: t, data_directory: data}\n", encoding="utf-8")
    book = ApprovalBook(tmp_path / "data" / "approvals")
    book.request("c9", 2, {"x": ureg.Quantity(3, "V")}, "x = 3 V is above the envelope's 1 V")
    runner = CliRunner()
    listed = runner.invoke(app, ["approvals", str(config)])
    assert listed.exit_code == 0, listed.output
    assert "c9" in listed.output
    assert "above the envelope" in listed.output
    decided = runner.invoke(app, ["approve", str(config), "c9", "2", "--reject", "--by", "ada"])
    assert decided.exit_code == 0, decided.output
    assert "c9 #2 rejected by ada" in decided.output
    again = runner.invoke(app, ["approve", str(config), "c9", "2"])
    assert again.exit_code != 0
    assert "already rejected by ada" in again.output
