"""The stock inventory: what is left in each bottle, kept in a JSON file shared by processes.

A campaign may crash and resume, and a console session may dispense while a queued campaign
runs: the volumes left must be the same for every process and survive them all. The inventory
is therefore a small JSON file, read and rewritten in one transaction per operation:

* an exclusive ``fcntl.flock`` on a companion lock file (``<file>.lock``) serialises the
  transactions of all processes and threads (the data file itself is replaced on each write, so
  a lock on it would lock a file that is about to disappear);
* the new state is written to a temporary file in the same folder, flushed to disk and moved
  over the old one with ``os.replace`` (atomic on POSIX): a crash leaves the old or the new
  state, never half of one.

Volumes are stored as integers of nanolitres, so the arithmetic is exact: after any sequence of
operations a stock holds exactly its start plus refills minus what was consumed, discarded and
used for rinsing. Quantities cross the edges with units (``"0.25 mL"``, pint quantities);
results are pint quantities in mL.

A plan is checked (:meth:`Inventory.check`) or reserved (:meth:`Inventory.reserve`) before any
liquid moves; a plan needing more than is left is refused with
:class:`~labctl.devices.dispensing.recipe.InsufficientStock`. A reservation holds its volumes
against other processes until it is released (reservations of a process that died on this host
are dropped). Low-stock messages are returned by the operation that touched the stock and by
:meth:`Inventory.low_stock`, and logged when a stock first falls below its level.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
import socket
import tempfile
import uuid
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from labctl.devices.dispensing.recipe import InsufficientStock, Stock
from labctl.devices.dispensing.recipe_solver import Plan
from labctl.errors import InventoryError, UnitError
from labctl.processes import process_alive
from labctl.units import Quantity, parse_quantity, to_magnitude, ureg

__all__ = ["Inventory", "Reservation", "StockAccount"]

_log = logging.getLogger(__name__)

FORMAT = 1
"""Version of the file layout (``"format"`` in the file)."""

NANOLITRES_PER_ML = 1_000_000

WASTE_WARNING_LEVEL = 0.9
"""Share of the waste container's capacity above which a warning is given."""

_COUNTERS = ("volume", "dispensed", "discarded", "rinsed", "refilled")


@dataclass(frozen=True)
class StockAccount:
    """One stock's account (all volumes in mL).

    Args:
        name: the stock.
        volume: left in the bottle.
        reserved: held by reservations (of every process).
        dispensed: consumed into vials.
        discarded: drawn and sent to waste (priming, purges, failed additions).
        rinsed: used to rinse lines (sent to waste).
        refilled: added by refills.
        in_flight: drawn by a pump whose transfer has not yet ended (see
            :meth:`Inventory.drawing`); it becomes dispensed or discarded when it ends.
    """

    name: str
    volume: Quantity
    reserved: Quantity
    dispensed: Quantity
    discarded: Quantity
    rinsed: Quantity
    refilled: Quantity
    in_flight: Quantity


class Reservation:
    """Volumes held for one plan until released; use it as a context manager.

    Args:
        inventory: the inventory holding it.
        token: its key in the file.
        volumes: stock → volume reserved at the start (mL).
    """

    def __init__(self, inventory: Inventory, token: str, volumes: Mapping[str, Quantity]):
        self.inventory = inventory
        self.token = token
        self.volumes = dict(volumes)

    def release(self) -> None:
        """Give back what the reservation still holds (idempotent)."""
        self.inventory.release(self)

    def __enter__(self) -> Reservation:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.release()

    def __repr__(self) -> str:
        return f"Reservation({self.token!r}, {self.volumes!r})"


class Inventory:
    """Stock volumes persisted in a JSON file, safe for several processes.

    Args:
        path: the inventory file (created, with the stocks' configured volumes, if missing).
        stocks: the stock definitions; a stock the file lacks is added with its configured
            ``volume``; the file's volume wins for a stock it already has.
        waste_capacity: the waste container's volume (``"1 L"``), for full-container warnings.

    Raises:
        InventoryError: the file cannot be read or written, or is not an inventory.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        stocks: Iterable[Stock],
        *,
        waste_capacity: object | None = None,
    ) -> None:
        self.path = Path(path)
        self.definitions = {stock.name: stock for stock in stocks}
        self.waste_capacity = (
            None if waste_capacity is None else _nanolitres(waste_capacity, "waste capacity")
        )
        self._lock_path = self.path.with_name(self.path.name + ".lock")
        with self._transaction() as state:
            for name, stock in self.definitions.items():
                if name not in state["stocks"]:
                    state["stocks"][name] = dict.fromkeys(_COUNTERS, 0)
                    state["stocks"][name]["volume"] = _nanolitres(stock.volume, name)
                    _log.info(
                        "inventory %s: stock %s added with %s", self.path, name, stock.volume
                    )

    # -- reading ------------------------------------------------------------------------------

    def volume(self, stock: str) -> Quantity:
        """Volume left in ``stock`` (mL)."""
        with self._transaction(write=False) as state:
            return _ml(self._account(state, stock)["volume"])

    def volumes(self) -> dict[str, Quantity]:
        """Stock → volume left (mL)."""
        with self._transaction(write=False) as state:
            return {name: _ml(account["volume"]) for name, account in state["stocks"].items()}

    def available(self, stock: str) -> Quantity:
        """Volume of ``stock`` not held by any reservation (mL)."""
        with self._transaction(write=False) as state:
            return _ml(self._available(state, stock, exclude=None))

    def stocks(self) -> list[Stock]:
        """The defined stocks with ``volume`` set to what is available now (for ``solve``)."""
        with self._transaction(write=False) as state:
            return [
                stock.model_copy(
                    update={"volume": _ml(max(0, self._available(state, name, exclude=None)))}
                )
                for name, stock in self.definitions.items()
            ]

    def accounts(self) -> dict[str, StockAccount]:
        """Stock → its account: volume left, reserved, dispensed, discarded, rinsed, refilled."""
        with self._transaction(write=False) as state:
            return {
                name: StockAccount(
                    name=name,
                    reserved=_ml(self._reserved(state, name, exclude=None)),
                    in_flight=_ml(
                        sum(e["volume"] for e in state["in_flight"].values() if e["stock"] == name)
                    ),
                    **{counter: _ml(account[counter]) for counter in _COUNTERS},
                )
                for name, account in state["stocks"].items()
            }

    def waste(self) -> dict[str, Quantity]:
        """Waste totals (mL).

        Keys: ``container`` (since it was last emptied), ``total`` (ever), ``rinse`` (rinse
        liquid ever used, from stocks and from the system reservoir).
        """
        with self._transaction(write=False) as state:
            return {key: _ml(value) for key, value in state["waste"].items()}

    def low_stock(self) -> list[str]:
        """A message for every stock below its low-stock level, and a nearly full waste."""
        with self._transaction(write=False) as state:
            messages = [
                message
                for name in state["stocks"]
                if (message := self._low_message(state, name)) is not None
            ]
            waste = self._waste_message(state)
        return [*messages, *([waste] if waste else [])]

    # -- before anything moves ----------------------------------------------------------------

    def check(
        self,
        plan: Plan | Mapping[str, object],
        *,
        overhead: object | Mapping[str, object] | None = None,
        reservation: Reservation | None = None,
    ) -> None:
        """Refuse a plan that needs more than is available; nothing is changed.

        Args:
            plan: a :class:`Plan` or stock → volume needed.
            overhead: extra volume drawn per stock used (priming, dead volume): one volume for
                every stock, or stock → volume.
            reservation: volumes this reservation holds count as available.

        Raises:
            InsufficientStock: every short stock, with the volume needed and the volume left.
            InventoryError: an unknown stock or a negative volume.
        """
        needs = _needs(plan, overhead)
        with self._transaction(write=False) as state:
            self._check(state, needs, exclude=reservation.token if reservation else None)

    def reserve(
        self,
        plan: Plan | Mapping[str, object],
        *,
        overhead: object | Mapping[str, object] | None = None,
    ) -> Reservation:
        """Check a plan as :meth:`check` does and hold its volumes for it until released.

        Returns:
            the reservation; :meth:`consume`, :meth:`discard` and :meth:`rinse` given it draw
            from it first. Use ``with inventory.reserve(plan) as reservation:``.

        Raises:
            InsufficientStock: as :meth:`check`.
        """
        needs = _needs(plan, overhead)
        token = uuid.uuid4().hex
        with self._transaction() as state:
            self._check(state, needs, exclude=None)
            state["reservations"][token] = {
                "pid": os.getpid(),
                "host": socket.gethostname(),
                "volumes": {name: volume for name, volume in needs.items() if volume > 0},
            }
        return Reservation(self, token, {name: _ml(volume) for name, volume in needs.items()})

    def release(self, reservation: Reservation) -> None:
        """Give back what ``reservation`` still holds (idempotent)."""
        with self._transaction() as state:
            state["reservations"].pop(reservation.token, None)

    # -- while liquid moves -------------------------------------------------------------------

    @contextlib.contextmanager
    def drawing(
        self, stock: str, volume: object, *, reservation: Reservation | None = None
    ) -> Iterator[list[str]]:
        """Book ``volume`` of ``stock`` as drawn *before* the pump moves it into a vial.

        Use ``with inventory.drawing(stock, volume) as messages: pump.transfer(...)``. On entry
        the bottle is booked that much emptier (``in_flight``); when the block ends the volume
        is booked as dispensed, or as discarded (to waste) if the block raised — the pump may
        have drawn any part of it, and its initialisation sends what it holds to waste. If the
        process dies inside the block (kill -9, power loss), the next process to open the
        inventory books the dead process's in-flight volume as discarded. So the inventory
        never claims more liquid than the bottle holds, whenever the process stops.

        Yields:
            low-stock messages for this stock (empty when it is above its level).
        """
        key = uuid.uuid4().hex
        messages = self._draw(stock, volume, None, reservation, in_flight=key)
        try:
            yield messages
        except BaseException:
            self._settle(key, "discarded")
            raise
        self._settle(key, "dispensed")

    # -- after liquid moved -------------------------------------------------------------------

    def consume(
        self, stock: str, volume: object, *, reservation: Reservation | None = None
    ) -> list[str]:
        """Record ``volume`` of ``stock`` dispensed into a vial.

        Returns:
            low-stock messages for this stock (empty when it is above its level).
        """
        return self._draw(stock, volume, "dispensed", reservation)

    def discard(
        self, stock: str, volume: object, *, reservation: Reservation | None = None
    ) -> list[str]:
        """Record ``volume`` of ``stock`` drawn and sent to waste (priming, a failed addition)."""
        return self._draw(stock, volume, "discarded", reservation)

    def rinse(
        self,
        volume: object,
        *,
        stock: str | None = None,
        reservation: Reservation | None = None,
    ) -> list[str]:
        """Record ``volume`` of rinse liquid sent to waste.

        The liquid comes from ``stock``, or from the system reservoir (``stock=None``, which
        is not inventoried); either way it is booked to waste and to the rinse total.
        """
        if stock is not None:
            return self._draw(stock, volume, "rinsed", reservation)
        amount = _nanolitres(volume, "rinse")
        with self._transaction() as state:
            self._to_waste(state, amount, rinse=True)
            message = self._waste_message(state)
        return [message] if message else []

    def refill(self, stock: str, volume: object) -> list[str]:
        """Record ``volume`` added to ``stock``'s bottle; returns a message if still low."""
        amount = _nanolitres(volume, stock)
        with self._transaction() as state:
            account = self._account(state, stock)
            account["volume"] += amount
            account["refilled"] += amount
            message = self._low_message(state, stock)
        _log.info("inventory: %s refilled with %s mL", stock, amount / NANOLITRES_PER_ML)
        return [message] if message else []

    def set_volume(self, stock: str, volume: object) -> list[str]:
        """Set ``stock``'s volume to a measured level.

        The difference is booked as a refill, or as discarded if the bottle held less.
        """
        amount = _nanolitres(volume, stock)
        with self._transaction() as state:
            account = self._account(state, stock)
            change = amount - account["volume"]
            account["volume"] = amount
            account["refilled" if change >= 0 else "discarded"] += abs(change)
            message = self._low_message(state, stock)
        return [message] if message else []

    def empty_waste(self) -> Quantity:
        """Record that the waste container was emptied; returns what it held (mL)."""
        with self._transaction() as state:
            held = state["waste"]["container"]
            state["waste"]["container"] = 0
        return _ml(held)

    # -- internals ----------------------------------------------------------------------------

    def _draw(
        self,
        stock: str,
        volume: object,
        counter: str | None,
        reservation: Reservation | None,
        *,
        in_flight: str | None = None,
    ) -> list[str]:
        """Take ``volume`` out of ``stock``'s bottle and book it.

        It is booked to ``counter``, or (``None``) held as the in-flight draw ``in_flight``
        until :func:`_settle_in_flight` books it.
        """
        amount = _nanolitres(volume, stock)
        messages: list[str] = []
        with self._transaction() as state:
            account = self._account(state, stock)
            was_low = self._low_message(state, stock) is not None
            if amount > account["volume"]:
                # The liquid has already moved: record it, but the bottle cannot go below empty.
                messages.append(
                    f"stock {stock}: {amount / NANOLITRES_PER_ML:.6g} mL drawn but the inventory "
                    f"held {account['volume'] / NANOLITRES_PER_ML:.6g} mL; set to empty — check "
                    "the bottle and correct it with set_volume"
                )
                _log.warning("inventory %s: %s", self.path, messages[-1])
            account["volume"] = max(0, account["volume"] - amount)
            if counter is not None:
                account[counter] += amount
            if reservation is not None and reservation.token in state["reservations"]:
                held = state["reservations"][reservation.token]["volumes"]
                if stock in held:
                    held[stock] = max(0, held[stock] - amount)
            if in_flight is not None:
                state["in_flight"][in_flight] = {
                    "pid": os.getpid(),
                    "host": socket.gethostname(),
                    "stock": stock,
                    "volume": amount,
                }
            to_waste = counter in ("discarded", "rinsed")
            if to_waste:
                self._to_waste(state, amount, rinse=counter == "rinsed")
            low = self._low_message(state, stock)
            waste = self._waste_message(state) if to_waste else None
        if low is not None:
            messages.append(low)
            if not was_low:
                _log.warning("inventory %s: %s", self.path, low)
        if waste is not None:
            messages.append(waste)
        return messages

    def _settle(self, key: str, counter: str) -> None:
        """Book the in-flight draw ``key`` as ``counter`` (dispensed or discarded)."""
        with self._transaction() as state:
            _settle_in_flight(state, key, counter)

    @staticmethod
    def _to_waste(state: dict[str, Any], amount: int, *, rinse: bool) -> None:
        state["waste"]["container"] += amount
        state["waste"]["total"] += amount
        if rinse:
            state["waste"]["rinse"] += amount

    def _account(self, state: dict[str, Any], stock: str) -> dict[str, int]:
        try:
            account: dict[str, int] = state["stocks"][stock]
        except KeyError:
            known = ", ".join(state["stocks"]) or "none"
            raise InventoryError(f"unknown stock {stock!r} (known: {known})") from None
        return account

    def _reserved(self, state: dict[str, Any], stock: str, *, exclude: str | None) -> int:
        return sum(
            int(entry["volumes"].get(stock, 0))
            for token, entry in state["reservations"].items()
            if token != exclude
        )

    def _available(self, state: dict[str, Any], stock: str, *, exclude: str | None) -> int:
        return self._account(state, stock)["volume"] - self._reserved(
            state, stock, exclude=exclude
        )

    def _check(
        self, state: dict[str, Any], needs: Mapping[str, int], *, exclude: str | None
    ) -> None:
        shortages: dict[str, tuple[float, float]] = {}
        for name, needed in needs.items():
            available = self._available(state, name, exclude=exclude)
            if needed > available:
                shortages[name] = (needed / NANOLITRES_PER_ML, available / NANOLITRES_PER_ML)
        if shortages:
            raise InsufficientStock(shortages)

    def _low_message(self, state: dict[str, Any], stock: str) -> str | None:
        definition = self.definitions.get(stock)
        if definition is None:
            return None
        level = _nanolitres(definition.low_stock, stock)
        left = state["stocks"][stock]["volume"]
        if left >= level or level == 0:
            return None
        return (
            f"stock {stock} is low: {left / NANOLITRES_PER_ML:.6g} mL left, below its "
            f"low-stock level of {level / NANOLITRES_PER_ML:.6g} mL"
        )

    def _waste_message(self, state: dict[str, Any]) -> str | None:
        if self.waste_capacity is None:
            return None
        held = state["waste"]["container"]
        if held < WASTE_WARNING_LEVEL * self.waste_capacity:
            return None
        return (
            f"waste container {held / self.waste_capacity:.0%} full "
            f"({held / NANOLITRES_PER_ML:.6g} mL of {self.waste_capacity / NANOLITRES_PER_ML:.6g}"
            " mL): empty it"
        )

    @contextlib.contextmanager
    def _transaction(self, *, write: bool = True) -> Iterator[dict[str, Any]]:
        """Hold the lock, yield the state, and (if ``write``) store it atomically on success."""
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            lock = self._lock_path.open("a")
        except OSError as error:
            raise InventoryError(
                f"cannot open the inventory lock {self._lock_path}: {error}"
            ) from error
        with lock:
            fcntl.flock(lock.fileno(), fcntl.LOCK_EX)
            try:
                state = self._load()
                dropped = _drop_dead_reservations(state)
                dropped = _settle_dead_draws(state) or dropped
                yield state
                if write or dropped:
                    self._store(state)
            finally:
                fcntl.flock(lock.fileno(), fcntl.LOCK_UN)

    def _load(self) -> dict[str, Any]:
        try:
            text = self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return {
                "format": FORMAT,
                "unit": "nL",
                "stocks": {},
                "waste": {"container": 0, "total": 0, "rinse": 0},
                "reservations": {},
                "in_flight": {},
            }
        except OSError as error:
            raise InventoryError(f"cannot read the inventory {self.path}: {error}") from error
        try:
            state = json.loads(text)
            _upgrade(state)
            _validate(state)
        except (ValueError, KeyError, TypeError, AttributeError) as error:
            raise InventoryError(
                f"{self.path} is not a labctl inventory (format {FORMAT}): {error}"
            ) from error
        result: dict[str, Any] = state
        return result

    def _store(self, state: dict[str, Any]) -> None:
        text = json.dumps(state, indent=1, sort_keys=True)
        try:
            handle, temporary = tempfile.mkstemp(
                dir=self.path.parent, prefix=f".{self.path.name}.", suffix=".tmp"
            )
            try:
                with os.fdopen(handle, "w", encoding="utf-8") as file:
                    file.write(text)
                    file.flush()
                    os.fsync(file.fileno())
                # Path.replace is os.replace: atomic on POSIX within one file system.
                Path(temporary).replace(self.path)
            except BaseException:
                Path(temporary).unlink(missing_ok=True)
                raise
        except OSError as error:
            raise InventoryError(f"cannot write the inventory {self.path}: {error}") from error


def _upgrade(state: Any) -> None:
    """Fill in what an inventory written before in-flight draws were booked lacks."""
    if isinstance(state, dict):
        state.setdefault("in_flight", {})


def _validate(state: Any) -> None:
    """Raise ValueError/KeyError/TypeError unless ``state`` has the inventory's layout."""
    if state.get("format") != FORMAT or state.get("unit") != "nL":
        raise ValueError(f"format {state.get('format')!r}, unit {state.get('unit')!r}")
    for name, account in state["stocks"].items():
        for counter in _COUNTERS:
            if not isinstance(account[counter], int) or account[counter] < 0:
                raise ValueError(f"stock {name}: {counter} is not a count of nanolitres")
    for key in ("container", "total", "rinse"):
        if not isinstance(state["waste"][key], int):
            raise ValueError(f"waste {key} is not a count of nanolitres")
    for entry in state["reservations"].values():
        if not all(isinstance(v, int) for v in entry["volumes"].values()):
            raise ValueError("a reservation's volumes are not counts of nanolitres")
    for entry in state["in_flight"].values():
        if entry["stock"] not in state["stocks"] or not isinstance(entry["volume"], int):
            raise ValueError("an in-flight draw names no stock or is not a count of nanolitres")


def _nanolitres(value: object, what: str) -> int:
    """A volume ≥ 0 (text or quantity) as integer nanolitres."""
    try:
        millilitres = to_magnitude(parse_quantity(value, "[volume]"), "mL")
    except UnitError as error:
        raise InventoryError(f"{what}: {error}") from error
    nanolitres = millilitres * NANOLITRES_PER_ML
    # Finite in nL too: 1e303 mL is a finite float whose nanolitres overflow to inf.
    if not nanolitres >= 0 or nanolitres == float("inf"):
        raise InventoryError(f"{what}: a volume must be ≥ 0 and finite, got {value!r}")
    return round(nanolitres)


def _ml(nanolitres: int) -> Quantity:
    return ureg.Quantity(nanolitres / NANOLITRES_PER_ML, "mL")


def _needs(
    plan: Plan | Mapping[str, object], overhead: object | Mapping[str, object] | None
) -> dict[str, int]:
    """Stock → nanolitres needed by a plan plus its per-stock overhead."""
    volumes: Mapping[str, object] = plan.volumes() if isinstance(plan, Plan) else plan
    needs = {name: _nanolitres(volume, name) for name, volume in volumes.items()}
    if overhead is None:
        return needs
    for name in needs:
        extra = overhead.get(name) if isinstance(overhead, Mapping) else overhead
        if extra is not None:
            needs[name] += _nanolitres(extra, f"overhead of {name}")
    return needs


def _of_dead_processes(entries: dict[str, Any]) -> list[str]:
    """Keys of ``entries`` (each with ``host`` and ``pid``) whose process on this host ended."""
    host = socket.gethostname()
    return [
        key
        for key, entry in entries.items()
        if entry.get("host") == host and not process_alive(int(entry.get("pid", 0)))
    ]


def _drop_dead_reservations(state: dict[str, Any]) -> bool:
    """Drop reservations of processes of this host that no longer run; True if any."""
    dead = _of_dead_processes(state["reservations"])
    for token in dead:
        _log.info("inventory: dropping the reservation of a process that ended (%s)", token)
        del state["reservations"][token]
    return bool(dead)


def _settle_in_flight(state: dict[str, Any], key: str, counter: str) -> None:
    """Move in-flight draw ``key`` to ``counter`` (and to waste unless dispensed)."""
    entry = state["in_flight"].pop(key, None)
    if entry is None:  # settled already (by another process that found this one dead)
        return
    state["stocks"][entry["stock"]][counter] += entry["volume"]
    if counter != "dispensed":
        Inventory._to_waste(state, entry["volume"], rinse=False)


def _settle_dead_draws(state: dict[str, Any]) -> bool:
    """Book in-flight draws of processes of this host that no longer run as discarded."""
    dead = _of_dead_processes(state["in_flight"])
    for key in dead:
        entry = state["in_flight"][key]
        _log.warning(
            "inventory: %s nL of %s drawn by a process that ended mid-transfer (pid %s) booked "
            "as discarded",
            entry["volume"],
            entry["stock"],
            entry.get("pid"),
        )
        _settle_in_flight(state, key, "discarded")
    return bool(dead)
