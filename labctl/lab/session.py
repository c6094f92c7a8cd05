"""The lab session: devices built from a config, one RunEngine, the store subscribed.

``Lab.from_config("configs/sim-lab.yaml")`` validates the config, starts the twins it names (each
on a free loopback port, in this process), builds every device through the registry, connects
them all — reporting every failure at once — opens the store and makes a RunEngine whose start
documents carry the lab's name, its operator, labctl's version and the config's hash.

Use it as a context manager, or call :meth:`Lab.close`: it closes devices, stops twins and
releases the store.
"""

from __future__ import annotations

import concurrent.futures
import logging
from collections.abc import Mapping
from pathlib import Path
from types import TracebackType
from typing import Any
from urllib.parse import urlsplit

from labctl import __version__
from labctl.config import DeviceConfig, LoadedConfig, load_config
from labctl.errors import LabConnectError, LabctlError
from labctl.lab.claims import AddressClaims
from labctl.lab.registry import (
    build_device,
    simulated_world,
    start_chaos,
    twin_class,
    validate_lab_config,
)
from labctl.lab.rewind import RewindSafeDispatcher
from labctl.lab.safety import EnvironmentWatch, SafetyOptions, install_suspenders
from labctl.store.catalog import Store
from labctl.units import to_magnitude

__all__ = ["Lab"]

_log = logging.getLogger(__name__)

_LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "::1")


class Lab:
    """A running lab: devices, RunEngine, store, and the twins that stand in for instruments.

    Build it with :meth:`from_config`.

    Args:
        config: the validated config.
        devices: name → connected device.
        twins: name → running twin (for devices simulated in this process).
        store: where documents go (``None`` when the lab was built without one).
        world: the simulated world the twins share (``None`` when no device is simulated);
            tests read it to compare what instruments reported with what happened.
    """

    def __init__(
        self,
        config: LoadedConfig,
        devices: Mapping[str, Any],
        twins: Mapping[str, Any],
        store: Store | None,
        world: Any = None,
    ) -> None:
        from bluesky import RunEngine

        self.config = config
        self.devices: dict[str, Any] = dict(devices)
        self.twins: dict[str, Any] = dict(twins)
        self.store = store
        self.world = world
        self.RE = RunEngine({})
        self.RE.md.update(
            {
                "lab": config.model.lab.name,
                "operator": config.model.lab.operator,
                "labctl_version": __version__,
                "config_hash": config.hash,
                "config_path": str(config.source),
            }
        )
        safety = config.model.safety
        self.RE.rewindable = safety.rewind
        self._store_token: int | None = None
        if store is not None:
            self.RE.md["scan_id"] = _last_scan_id(store)
            if safety.rewind:
                # Events reach the store only once the plan cannot rewind over them.
                self._store_token = RewindSafeDispatcher(store.writer()).attach(self.RE)
            else:
                self._store_token = self.RE.subscribe(store.writer())  # type: ignore[no-untyped-call]
        self._unpublish: Any = None
        if config.model.publish is not None:
            from labctl.lab.publish import attach_publisher

            # Documents go live to the 0MQ proxy for remote consumers (see labctl.lab.publish).
            self._unpublish = attach_publisher(self.RE, config.model.publish, rewind=safety.rewind)
        self.claims: AddressClaims | None = None
        self.chaos: Any = None
        self.safety_watches: list[EnvironmentWatch] = []
        if safety.environment_suspenders:
            self.safety_watches, _ = install_suspenders(
                self,
                SafetyOptions(
                    period=to_magnitude(safety.period, "s"),
                    settle=to_magnitude(safety.settle, "s"),
                    hysteresis=safety.hysteresis,
                ),
            )
        self._closed = False
        self._devices_closed = False

    @classmethod
    def from_config(
        cls,
        path: str | Path | LoadedConfig,
        *,
        time_scale: float | None = None,
        with_store: bool = True,
    ) -> Lab:
        """Build, start and connect the lab described by the config at ``path``.

        Args:
            path: a config file (or an already loaded config).
            time_scale: overrides ``simulation.time_scale`` for every twin.
            with_store: open the store and subscribe it (off for quick checks).

        Raises:
            ConfigError: the config is invalid.
            LabConnectError: one or more devices failed to connect (all are listed).
            StoreError: the store cannot be opened.
        """
        config = path if isinstance(path, LoadedConfig) else load_config(path)
        options = validate_lab_config(config)
        twins: dict[str, Any] = {}
        devices: dict[str, Any] = {}
        store: Store | None = None
        claims = AddressClaims(config.model.lab.name, str(config.source))
        try:
            addresses, world = _start_twins(config, twins, time_scale)
            for name, address in addresses.items():
                if address:  # a composite device has none
                    claims.claim(name, address)
            for name, device_config in config.model.devices.items():
                devices[name] = build_device(name, device_config, addresses[name], options[name])
            _bind_all(devices, config.data_directory)
            _connect_all(devices, config.model.devices)
            if with_store:
                # The lab writes: in this process, so a killed store server cannot interrupt it.
                store = Store.for_config(config, in_process=True)
            lab = cls(config, devices, twins, store, world)
            lab.chaos = _start_chaos(config, twins)
        except BaseException:
            _close_all(devices, twins, store)
            claims.release()
            raise
        lab.claims = claims
        return lab

    def close_devices(self) -> None:
        """Close every device as :meth:`close` does, leaving the twins and the store up.

        Each device leaves its hardware safe when it closes (pumps stopped, the droplet cell
        lifted and its stage out of alarm); a reliability check reads the twins afterwards to
        see the state a lab session leaves the world in. Idempotent; :meth:`close` skips it
        after.
        """
        if self._devices_closed:
            return
        self._devices_closed = True
        if self.chaos is not None:
            self.chaos.stop()
        _close_devices(self.devices)

    def close(self) -> None:
        """Close devices, stop twins and release the store (idempotent)."""
        if self._closed:
            return
        self._closed = True
        if self.chaos is not None:
            self.chaos.stop()
        for watch in self.safety_watches:
            watch.stop()
        if self._store_token is not None:
            self.RE.unsubscribe(self._store_token)  # type: ignore[no-untyped-call]
        if self._unpublish is not None:
            self._unpublish()
        _close_all({} if self._devices_closed else self.devices, self.twins, self.store)
        self._devices_closed = True
        if self.claims is not None:
            self.claims.release()

    def __enter__(self) -> Lab:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    @property
    def name(self) -> str:
        """The lab's name from its config."""
        return self.config.model.lab.name

    def sensors(self) -> list[Any]:
        """Devices labelled ``sensors`` (environment sensors), in config order.

        They read their surroundings without being set up first — what a survey records.
        """
        return [
            device
            for device in self.devices.values()
            if "sensors" in getattr(device, "_ophyd_labels_", ())
        ]

    def __repr__(self) -> str:
        state = "closed" if self._closed else "open"
        return f"<Lab {self.name!r} {state}: {', '.join(self.devices)}>"


def _start_chaos(config: LoadedConfig, twins: Mapping[str, Any]) -> Any:
    """Start chaos mode on the lab's twins if the config asks for it."""
    chaos = config.model.simulation.chaos
    if chaos is None or not twins:
        return None
    return start_chaos(
        twins,
        mean_interval=to_magnitude(chaos.mean_interval, "s"),
        duration=to_magnitude(chaos.duration, "s"),
        kinds=frozenset(chaos.kinds),
        weights=dict(chaos.weights),
        seed=config.model.simulation.seed if chaos.seed is None else chaos.seed,
    )


def _start_twins(
    config: LoadedConfig, twins: dict[str, Any], time_scale: float | None
) -> tuple[dict[str, str], Any]:
    """Start every configured twin; return the drivers' addresses and the shared world."""
    simulation = config.model.simulation
    addresses: dict[str, str] = {}
    world = None
    for name, device in config.model.devices.items():
        if device.twin is None:
            # DeviceConfig's validator guarantees an address unless the device is a composite
            addresses[name] = device.address or ""
            continue
        spec = device.twin
        if world is None:
            world = simulated_world(simulation.seed)
        seed = spec.seed if spec.seed is not None else _twin_seed(simulation.seed, name)
        scale = time_scale if time_scale is not None else spec.time_scale
        twin = twin_class(spec.kind).from_config(
            name,
            device,
            spec,
            seed=seed,
            time_scale=simulation.time_scale if scale is None else scale,
            world=world,
        )
        twins[name] = twin
    # Twins start on their own threads; starting them together overlaps their set-up.
    if twins:
        with concurrent.futures.ThreadPoolExecutor(
            max_workers=min(8, len(twins)), thread_name_prefix="labctl-twin-start"
        ) as pool:
            started = {}
            for name, twin in twins.items():
                host, port = _twin_bind(name, config.model.devices[name])
                started[name] = pool.submit(twin.start, host, port)
            for name, future in started.items():
                addresses[name] = future.result(timeout=60)
    return addresses, world


def _twin_seed(base_seed: int, device_name: str) -> int:
    """A per-device seed from the lab's base seed: stable across processes (no ``hash()``)."""
    digest = 0
    for character in device_name:
        digest = (digest * 131 + ord(character)) % 2_147_483_647
    return (base_seed * 1_000_003 + digest) % 2**32


def _twin_bind(name: str, device: DeviceConfig) -> tuple[str, int]:
    """Where a twin listens: the configured loopback address's port, else a free port."""
    if device.address is None:
        return "127.0.0.1", 0
    parts = urlsplit(device.address)
    host = parts.hostname or "127.0.0.1"
    if host not in _LOOPBACK_HOSTS:
        raise LabctlError(
            f"devices.{name}: a twin serves only on loopback, but the address names {host!r}; "
            "remove 'address' or use 127.0.0.1"
        )
    return "127.0.0.1", parts.port or 0


def _bind_all(devices: Mapping[str, Any], data_directory: Path) -> None:
    """Let composite devices find the devices they use, after all are built, before connecting.

    A device that has a ``bind(devices, *, data_directory)`` method gets the mapping name → device
    of the whole lab and the lab's data directory (for state files); it raises
    :class:`~labctl.errors.ConfigError` (with the key path) when a device it names is missing or
    of the wrong kind.
    """
    for device in devices.values():
        bind = getattr(device, "bind", None)
        if callable(bind):
            bind(devices, data_directory=data_directory)


def _connect_all(devices: Mapping[str, Any], configs: Mapping[str, DeviceConfig]) -> None:
    """Connect every device in parallel; raise one error listing every failure."""
    if not devices:
        return
    failures: dict[str, BaseException] = {}
    with concurrent.futures.ThreadPoolExecutor(
        max_workers=min(8, len(devices)), thread_name_prefix="labctl-connect"
    ) as pool:
        futures = {name: pool.submit(device.connect) for name, device in devices.items()}
        for name, future in futures.items():
            # Each driver enforces its own timeouts; this bound only guards against a bug there.
            limit = to_magnitude(configs[name].timeout.connect, "s") * 2 + 5
            try:
                future.result(timeout=limit)
            except concurrent.futures.TimeoutError:
                failures[name] = TimeoutError(f"connect did not return within {limit:g} s")
            except Exception as error:
                failures[name] = error
    if failures:
        raise LabConnectError(failures)


def _last_scan_id(store: Store) -> int:
    latest = store.runs(limit=1)
    if latest and latest[0].scan_id is not None:
        return int(latest[0].scan_id)
    return 0


def _close_all(devices: Mapping[str, Any], twins: Mapping[str, Any], store: Store | None) -> None:
    _close_devices(devices)
    for name, twin in twins.items():
        try:
            twin.close()
        except Exception as error:
            _log.warning("stopping twin %s failed: %s", name, error)
    if store is not None:
        store.close()


def _close_devices(devices: Mapping[str, Any]) -> None:
    """Close every device: composites (bound to other devices) first, then in reverse order.

    A composite such as the droplet cell parks its parts when it closes (lifts the cell), so
    they must still be connected; reverse order closes what was opened last first.
    """
    ordered = list(devices.items())[::-1]
    ordered.sort(key=lambda item: not callable(getattr(item[1], "bind", None)))
    for name, device in ordered:
        try:
            device.close()
        except Exception as error:
            _log.warning("closing device %s failed: %s", name, error)
