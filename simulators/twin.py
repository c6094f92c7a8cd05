"""What every twin offers the lab that starts it.

A twin is a simulated instrument that speaks the real instrument's wire protocol on a loopback
address. The lab builds it from the device's config (so it serves the layout the driver expects),
starts it, points the driver at :attr:`Twin.address`, and stops it on close.
"""

from __future__ import annotations

from typing import Any, ClassVar, Protocol, TypeVar, runtime_checkable

from pydantic import BaseModel, ValidationError

from labctl.config import DeviceConfig, TwinConfig, issues_from_validation_error
from labctl.errors import ConfigError, ConfigIssue
from labctl.simulators.world import World

__all__ = ["Twin", "TwinFactory", "twin_option_issues", "twin_options"]

_Options = TypeVar("_Options", bound=BaseModel)


@runtime_checkable
class Twin(Protocol):
    """A running (or runnable) simulated instrument."""

    kind: ClassVar[str]

    @property
    def address(self) -> str:
        """Where the driver reaches it (valid after :meth:`start`)."""

    def start(self, host: str = "127.0.0.1", port: int = 0) -> str:
        """Start serving on ``host:port`` (0 = a free port) and return the address."""

    def stop(self) -> None:
        """Stop serving (idempotent)."""


class TwinFactory(Protocol):
    """Builds a twin for one device of a lab config."""

    def __call__(
        self,
        name: str,
        device: DeviceConfig,
        twin: TwinConfig,
        *,
        seed: int,
        time_scale: float,
        world: World,
    ) -> Any:
        """Return an unstarted twin that acts on ``world`` (the lab's shared simulated world)."""


def twin_option_issues(model: type[BaseModel], name: str, twin: TwinConfig) -> list[ConfigIssue]:
    """Every problem ``model`` finds in device ``name``'s ``twin.options``, with key paths."""
    try:
        model.model_validate(twin.options)
    except ValidationError as error:
        return issues_from_validation_error(error, ("devices", name, "twin", "options"))
    return []


def twin_options(model: type[_Options], name: str, twin: TwinConfig) -> _Options:
    """Device ``name``'s ``twin.options`` as ``model``.

    Raises:
        ConfigError: the options do not fit, each problem under
            ``devices.<name>.twin.options``.
    """
    try:
        return model.model_validate(twin.options)
    except ValidationError as error:
        where = ("devices", name, "twin", "options")
        raise ConfigError("<config>", issues_from_validation_error(error, where)) from None
