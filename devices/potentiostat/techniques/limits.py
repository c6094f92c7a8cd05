"""A potentiostat's safety limits, and the check of a technique against them before it is sent."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from labctl.config import (
    LimitRange,
)
from labctl.errors import ConfigIssue, SafetyLimitError
from labctl.units import Quantity, to_magnitude, ureg

__all__ = ["LIMIT_NAMES", "TechniqueLimits", "limit_issues"]

LIMIT_NAMES = ("potential", "current", "current_density", "compliance_voltage", "duration")
"""The safety limits a potentiostat entry may configure (``devices.<name>.limits.<limit>``)."""
_LIMIT_UNITS = {
    "potential": "V",
    "current": "A",
    "current_density": "A/m**2",
    "compliance_voltage": "V",
    "duration": "s",
}


def _text(value: float, unit: str) -> str:
    return f"{ureg.Quantity(value, unit).to_compact():.4g~P}"


@dataclass(frozen=True)
class TechniqueLimits:
    """A potentiostat's safety limits in SI, from ``devices.<name>.limits`` and its options.

    Args:
        device: the device name, for messages.
        potential: allowed working-electrode potentials (low, high), V; ``None`` = open end.
        current: largest |current|, A.
        current_density: largest |current| per electrode area, A/m².
        electrode_area: working-electrode area, m² (needed for ``current_density``).
        compliance_voltage: largest compliance voltage of a current-controlled technique, V.
        duration: longest technique, s.
    """

    device: str
    potential: tuple[float | None, float | None] = (None, None)
    current: float | None = None
    current_density: float | None = None
    electrode_area: float | None = None
    compliance_voltage: float | None = None
    duration: float | None = None

    @classmethod
    def from_config(
        cls, device: str, limits: Mapping[str, LimitRange], electrode_area: Quantity | None
    ) -> TechniqueLimits:
        """The limits of ``devices.<device>.limits`` (names in :data:`LIMIT_NAMES`).

        ``current``, ``current_density``, ``compliance_voltage`` and ``duration`` are magnitudes:
        their ``high`` end applies (a ``low`` end is refused by :func:`limit_issues`).
        """

        def high(name: str) -> float | None:
            limit = limits.get(name)
            if limit is None or limit.high is None:
                return None
            return to_magnitude(limit.high, _LIMIT_UNITS[name])

        window = limits.get("potential")
        potential = (
            (None, None)
            if window is None
            else (
                None if window.low is None else to_magnitude(window.low, "V"),
                None if window.high is None else to_magnitude(window.high, "V"),
            )
        )
        return cls(
            device=device,
            potential=potential,
            current=high("current"),
            current_density=high("current_density"),
            electrode_area=None
            if electrode_area is None
            else to_magnitude(electrode_area, "m**2"),
            compliance_voltage=high("compliance_voltage"),
            duration=high("duration"),
        )

    def check_potential(self, what: str, value: float) -> None:
        """Refuse a working-electrode potential outside the window."""
        low, high = self.potential
        if (low is not None and value < low) or (high is not None and value > high):
            window = f"[{'-∞' if low is None else _text(low, 'V')}, "
            window += f"{'∞' if high is None else _text(high, 'V')}]"
            raise SafetyLimitError(self.device, what, _text(value, "V"), window)

    def check_current(self, what: str, value: float) -> None:
        """Refuse a current above the current limit or the current-density limit."""
        if self.current is not None and abs(value) > self.current:
            raise SafetyLimitError(
                self.device, what, _text(value, "A"), f"|I| ≤ {_text(self.current, 'A')}"
            )
        if self.current_density is not None and self.electrode_area:
            density = abs(value) / self.electrode_area
            if density > self.current_density:
                raise SafetyLimitError(
                    self.device,
                    f"{what} density",
                    f"{density / 10:.4g} mA/cm² ({_text(value, 'A')} on "
                    f"{self.electrode_area * 1e4:.4g} cm²)",
                    f"|j| ≤ {self.current_density / 10:.4g} mA/cm²",
                )

    def check_compliance(self, value: float | None) -> None:
        """Refuse a compliance voltage above the limit."""
        if (
            value is not None
            and self.compliance_voltage is not None
            and abs(value) > self.compliance_voltage
        ):
            raise SafetyLimitError(
                self.device,
                "compliance voltage",
                _text(value, "V"),
                f"≤ {_text(self.compliance_voltage, 'V')}",
            )

    def check_duration(self, seconds: float) -> None:
        """Refuse a technique that would run longer than the limit."""
        if self.duration is not None and seconds > self.duration:
            raise SafetyLimitError(
                self.device,
                "duration",
                _text(seconds, "s"),
                f"≤ {_text(self.duration, 's')}",
            )


def limit_issues(device: str, limits: Mapping[str, LimitRange]) -> list[ConfigIssue]:
    """Every problem with a potentiostat's ``limits`` section, with key paths."""
    issues: list[ConfigIssue] = []
    for name, limit in limits.items():
        where = ("devices", device, "limits", name)
        if name not in _LIMIT_UNITS:
            issues.append(ConfigIssue(where, f"unknown limit; a potentiostat has {LIMIT_NAMES}"))
            continue
        for end in ("low", "high"):
            value = getattr(limit, end)
            if value is not None and not value.is_compatible_with(_LIMIT_UNITS[name]):
                issues.append(
                    ConfigIssue(
                        (*where, end), f"wrong dimension: {name} is in {_LIMIT_UNITS[name]}", value
                    )
                )
        if name != "potential" and limit.low is not None:
            issues.append(
                ConfigIssue(
                    (*where, "low"),
                    f"{name} is a magnitude limit: give only 'high'",
                    f"{limit.low:~P}",
                )
            )
    return issues
