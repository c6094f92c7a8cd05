"""Electrochemical techniques as typed, validated values with units.

:mod:`.base` (what every technique is), :mod:`.limits` (the safety limits), :mod:`.steps` (OCV, CA,
CP, LSV, CV), :mod:`.impedance` (EIS), :mod:`.plating` (pulse trains, plate-then-strip).

A technique says *what* to do to the cell (chronoamperometry at 0.1 V for 60 s, a pulse train of
−5 mA/cm² pulses); a driver says *how* an instrument does it. Every technique:

* is a frozen pydantic model whose quantities carry pint units (``"2 mA"``, ``"50 mV/s"``), so a
  plan or a config states them the way a scientist writes them;
* checks its own consistency when built (a sampling interval longer than the step it samples, a
  vertex equal to the start, a pulse whose off-current pushes the same way as its on-current);
* checks itself against the potentiostat's configured safety limits
  (:meth:`Technique.check_limits`) before anything is sent;
* turns into the SI mapping drivers and twins share (:meth:`Technique.as_si`: floats in s, V, A,
  C, Hz; currents follow the IUPAC sign convention, anodic positive, so plating is negative).

Battery protocols are techniques in their own right: :class:`PulseTrain` (galvanostatic pulses,
with duty cycle and average current derived) and :class:`PlateStrip` (plate a charge, rest, strip
to a cut-off potential).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any, TypeAlias

from pydantic import Field, TypeAdapter, ValidationError

from labctl.config import issues_from_validation_error
from labctl.devices.potentiostat.techniques.base import Technique
from labctl.devices.potentiostat.techniques.impedance import EIS
from labctl.devices.potentiostat.techniques.limits import (
    LIMIT_NAMES,
    TechniqueLimits,
    limit_issues,
)
from labctl.devices.potentiostat.techniques.plating import PlateStrip, PulseTrain
from labctl.devices.potentiostat.techniques.steps import CA, CP, CV, LSV, OCV
from labctl.errors import ConfigError

__all__ = [
    "CA",
    "CP",
    "CV",
    "EIS",
    "LIMIT_NAMES",
    "LSV",
    "OCV",
    "AnyTechnique",
    "PlateStrip",
    "PulseTrain",
    "Technique",
    "TechniqueLimits",
    "limit_issues",
    "parse_technique",
]

AnyTechnique: TypeAlias = Annotated[
    OCV | CA | CP | LSV | CV | EIS | PulseTrain | PlateStrip, Field(discriminator="kind")
]
_ADAPTER: TypeAdapter[Any] = TypeAdapter(AnyTechnique)


def parse_technique(value: Technique | Mapping[str, Any], *, source: str = "<technique>") -> Any:
    """A technique from a mapping of text quantities (``{"kind": "ca", "potential": "0.1 V"}``).

    Raises:
        ConfigError: naming every invalid field by its key path under ``source``.
    """
    if isinstance(value, Technique):
        return value
    try:
        return _ADAPTER.validate_python(dict(value))
    except ValidationError as error:
        raise ConfigError(source, issues_from_validation_error(error, ())) from None
