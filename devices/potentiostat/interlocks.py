"""Potentiostat interlocks: a short circuit or a reached compliance ends the technique as failed.

A current-controlled technique (CP, pulse train, plate/strip) on a metal electrode can short
through a dendrite — the cell voltage collapses to i·R_short — or hit the compliance voltage when
the cell can no longer carry the current (depletion past Sand's time, a dry or disconnected
cell). Either way the data after that moment are not the experiment that was asked for, and the
hardware should not be driven on. The driver has already put the cell at open circuit when a
technique ends; the interlock decides what the run records: ``fail`` (default) fails the
trigger's status with :class:`InterlockTripped` — the campaign's failure policy then skips or
retries the experiment — and ``record`` only notes it in the ``interlock`` reading.

Checked on the finished curve (short: :func:`labctl.analysis.detect_short_circuit`; compliance:
a sample within 0.1 % of the compliance voltage). Stopping *during* a long technique at the first
sign of a short is left to the instruments' own limits (the twins and real instruments stop at
compliance).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from labctl.analysis import AnalysisError, detect_short_circuit
from labctl.config import Duration
from labctl.errors import InterlockError
from labctl.units import to_magnitude, ureg

__all__ = ["InterlockOptions", "InterlockTripped", "check_interlocks"]

GALVANOSTATIC = frozenset({"cp", "pulse_train", "plate_strip"})
"""Techniques that source a current (the ones a short or the compliance can spoil)."""


class InterlockTripped(InterlockError):
    """A short circuit or the compliance voltage ended a technique; its curve is recorded.

    ``interlock`` is ``short_circuit`` or ``compliance``.
    """


class ShortCircuitOptions(BaseModel):
    """How a short circuit is recognised and what it does.

    Args:
        action: ``fail`` the technique (default) or only ``record`` it.
        drop_fraction: the fall of |cell voltage|, as a fraction, that counts as a collapse.
        window: how far back the reference voltage is taken from.
    """

    model_config = ConfigDict(extra="forbid", frozen=True, arbitrary_types_allowed=True)

    action: Literal["fail", "record"] = "fail"
    drop_fraction: float = Field(default=0.8, gt=0, lt=1)
    window: Duration = Field(default_factory=lambda: ureg.Quantity(1.0, "s"))


class ComplianceOptions(BaseModel):
    """What reaching the compliance voltage does.

    Args:
        action: ``fail`` the technique (default) or only ``record`` it.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    action: Literal["fail", "record"] = "fail"


class InterlockOptions(BaseModel):
    """``options.interlocks`` of a potentiostat."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    short_circuit: ShortCircuitOptions = Field(default_factory=ShortCircuitOptions)
    compliance: ComplianceOptions = Field(default_factory=ComplianceOptions)


def check_interlocks(
    device: str,
    technique: Mapping[str, object],
    data: Mapping[str, np.ndarray],
    options: InterlockOptions,
    compliance_voltage: float | None,
) -> tuple[str, bool, str]:
    """What tripped (``""``: nothing), whether the technique must fail, and the interlock's name.

    Args:
        device: the device name, for the message.
        technique: the technique's SI mapping.
        data: the curve (``time``, ``potential``, ``current``).
        options: the interlocks' settings.
        compliance_voltage: the compliance in force, V (the technique's own, else the device's).
    """
    if technique.get("kind") not in GALVANOSTATIC:
        return "", False, ""
    time = np.asarray(data.get("time", ()), dtype=float)
    potential = np.asarray(data.get("potential", ()), dtype=float)
    current = np.asarray(data.get("current", ()), dtype=float)
    if len(time) < 3:
        return "", False, ""
    if compliance_voltage is not None and compliance_voltage > 0:
        at_limit = np.flatnonzero(np.abs(potential) >= 0.999 * compliance_voltage)
        if len(at_limit):
            moment = float(time[at_limit[0]])
            reason = (
                f"{device}: compliance voltage {compliance_voltage:g} V reached at t = "
                f"{moment:.4g} s — the cell could not carry the current; the cell is at open "
                "circuit"
            )
            return reason, options.compliance.action == "fail", "compliance"
    short = options.short_circuit
    try:
        moment_or_none = detect_short_circuit(
            time,
            potential,
            current,
            drop_fraction=short.drop_fraction,
            window=to_magnitude(short.window, "s"),
        )
    except AnalysisError:
        return "", False, ""
    if moment_or_none is None:
        return "", False, ""
    reason = (
        f"{device}: short circuit at t = {moment_or_none:.4g} s (the cell voltage collapsed by "
        f"more than {short.drop_fraction:.0%}); the cell is at open circuit"
    )
    return reason, short.action == "fail", "short_circuit"
