"""What every twin offers the lab that starts it, and how a twin is built from a device's config.

A twin is a simulated instrument that speaks the real instrument's wire protocol on a loopback
address. The lab builds it from the device's config (so it serves the layout the driver expects),
starts it, points the driver at :attr:`Twin.address`, and stops it on close.

:class:`ConfiguredTwin` is the one way a twin reads its config: it validates ``twin.options``
with the twin's options model once, runs the twin's own cross-checks against the device's
config, and hands the parsed options to the twin's :meth:`~ConfiguredTwin.build`.
"""

from __future__ import annotations

from typing import Any, ClassVar, Generic, Protocol, Self, TypeVar, runtime_checkable

from pydantic import BaseModel, ValidationError

from labctl.config import DeviceConfig, TwinConfig, issues_from_validation_error
from labctl.errors import ConfigError, ConfigIssue
from labctl.simulators.world import World

__all__ = [
    "ConfiguredTwin",
    "Twin",
    "TwinFactory",
    "twin_options",
    "twin_options_path",
]

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


def twin_options_path(name: str) -> tuple[str, ...]:
    """The key path of device ``name``'s ``twin.options`` (where their problems are reported)."""
    return ("devices", name, "twin", "options")


def twin_options(model: type[_Options], name: str, twin: TwinConfig) -> _Options:
    """Device ``name``'s ``twin.options`` as ``model``.

    Raises:
        ConfigError: the options do not fit, each problem under
            ``devices.<name>.twin.options``.
    """
    try:
        return model.model_validate(twin.options)
    except ValidationError as error:
        issues = issues_from_validation_error(error, twin_options_path(name))
        raise ConfigError("<config>", issues) from None


class ConfiguredTwin(Generic[_Options]):
    """A twin built from a device's config: the ``check_config``/``from_config`` the lab calls.

    The lab's registry checks a config with :meth:`check_config` before anything starts and
    builds the twin with :meth:`from_config`; both read ``twin.options`` the same way, so a config
    that passes the check builds. A subclass names its options model (:attr:`Options`), builds
    itself from parsed options (:meth:`build`) and, where the options must agree with the
    device's own config, adds those checks (:meth:`check_options`).
    """

    Options: type[_Options]
    """The pydantic model of ``twin.options``."""

    @classmethod
    def check_config(cls, name: str, device: DeviceConfig, twin: TwinConfig) -> list[ConfigIssue]:
        """Every problem with device ``name``'s ``twin.options``, with key paths."""
        try:
            options = twin_options(cls.Options, name, twin)
        except ConfigError as error:
            return error.issues
        return cls.check_options(name, device, options)

    @classmethod
    def check_options(
        cls, name: str, device: DeviceConfig, options: _Options
    ) -> list[ConfigIssue]:
        """Problems of valid ``options`` against device ``name``'s config (none by default).

        A twin overrides this when its options refer to the device's own settings (a valve
        port beyond the device's port count), so the lab reports such a clash before it starts.
        """
        del name, device, options
        return []

    @classmethod
    def from_config(
        cls,
        name: str,
        device: DeviceConfig,
        twin: TwinConfig,
        *,
        seed: int,
        time_scale: float,
        world: World | None = None,
    ) -> Self:
        """Build the (unstarted) twin of device ``name`` from its config.

        Args:
            name: the device's name in the lab config.
            device: the device's config (its address, options and twin section).
            twin: the device's twin section.
            seed: the twin's noise seed.
            time_scale: simulated seconds per wall second (0 = instant).
            world: the lab's shared simulated world (``None``: the twin's own state).

        Raises:
            ConfigError: the options do not fit the model or the device, each problem under
                its key path.
        """
        options = twin_options(cls.Options, name, twin)
        issues = cls.check_options(name, device, options)
        if issues:
            raise ConfigError("<config>", issues)
        return cls.build(name, device, options, seed=seed, time_scale=time_scale, world=world)

    @classmethod
    def build(
        cls,
        name: str,
        device: DeviceConfig,
        options: _Options,
        *,
        seed: int,
        time_scale: float,
        world: World | None,
    ) -> Self:
        """The twin of device ``name`` from its checked ``options`` (see :meth:`from_config`)."""
        raise NotImplementedError
