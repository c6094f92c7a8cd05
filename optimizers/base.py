"""The ask/tell front every optimizer shares.

It holds the data, handles pending and failed experiments, saves and restores state, rebuilds
from a store's table, and speaks the verbs of bluesky-adaptive's recommenders.

An optimizer is built from a search space and objectives (config dicts or built objects), a seed
and its own options. ``ask(n, pending=...)`` returns ``n`` decoded suggestions (name → quantity
or option); ``tell(inputs, outcomes)`` records experiments, an outcome of ``None`` meaning the
experiment failed: a failed setting is not used to fit any model but is treated like a pending
one, so it is not suggested again. Suggestions depend only on the seed, the told data (in order)
and the pending settings, so an optimizer rebuilt with :meth:`from_state` or :meth:`from_data`
suggests exactly what the original would have.
"""

from __future__ import annotations

import concurrent.futures
import math
import threading
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Self

import numpy as np
import pint
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from labctl.errors import ConfigError, ConfigIssue
from labctl.optimizers.candidates import is_new
from labctl.optimizers.errors import InputError, OptimizerError
from labctl.optimizers.objectives import Objectives
from labctl.optimizers.pareto import hypervolume, non_dominated
from labctl.optimizers.space import FEASIBILITY_TOLERANCE, SearchSpace, config_error
from labctl.units import encode_quantity

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["AskTellOptimizer", "BaseOptions", "Inputs", "Outcome"]

Inputs = Mapping[str, Any]
"""One experiment's setting: parameter name → quantity, number, text with units, or option."""
Outcome = Mapping[str, Any] | None
"""One experiment's outcomes (name → float in the objective's units, or a quantity); ``None``
when the experiment failed."""

STATE_VERSION = 1


class BaseOptions(BaseModel):
    """Options every optimizer takes.

    Args:
        initial_experiments: experiments chosen by the space-filling Sobol design before any
            model is used (default ``2 (e + 1)``, ``e`` the search dimension; at least 2).
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    initial_experiments: int | None = Field(default=None, ge=1)


class AskTellOptimizer(ABC):
    """Base of every optimizer: ask for suggestions, tell outcomes.

    Args:
        space: the search space, or the ``space`` section of a campaign config.
        objectives: the objectives, or the ``objectives`` section.
        seed: seed of every random choice (designs, model fits, acquisition optimization).
        **options: the optimizer's own options (see its ``Options``); unknown ones are errors.

    Raises:
        ConfigError: the space, objectives or options are invalid.
    """

    kind: ClassVar[str] = ""
    Options: ClassVar[type[BaseOptions]] = BaseOptions

    def __init__(
        self,
        space: SearchSpace | Mapping[str, Any],
        objectives: Objectives | Mapping[str, Any],
        *,
        seed: int = 0,
        **options: Any,
    ) -> None:
        self.space = space if isinstance(space, SearchSpace) else SearchSpace(space)
        self.objectives = (
            objectives if isinstance(objectives, Objectives) else Objectives(objectives)
        )
        self.seed = int(seed)
        try:
            self.options = self.Options.model_validate(options)
        except ValidationError as error:
            raise config_error(error, ("optimizer", "options"), "<optimizer options>") from None
        self._lock = threading.Lock()
        self._executor: concurrent.futures.ThreadPoolExecutor | None = None
        self._inputs: list[dict[str, Any]] = []
        self._X = np.zeros((0, self.space.model_dim))
        self._Y = np.zeros((0, len(self.objectives.names)))

    # ------------------------------------------------------------------ building

    @classmethod
    def from_campaign(cls, section: Any) -> Self:
        """Build from a campaign config section (``labctl.config.CampaignSection``).

        Raises:
            ConfigError: with key paths under ``campaign``.
        """
        space = SearchSpace(section.space, where=("campaign", "space"), source="<campaign>")
        objectives = Objectives(
            section.objectives, where=("campaign", "objectives"), source="<campaign>"
        )
        try:
            options = cls.Options.model_validate(section.optimizer.options)
        except ValidationError as error:
            raise config_error(error, ("campaign", "optimizer", "options"), "<campaign>") from None
        return cls(
            space,
            objectives,
            seed=section.optimizer.seed,
            **options.model_dump(exclude_unset=True),
        )

    @classmethod
    def check_campaign(cls, section: Any) -> list[ConfigIssue]:
        """Every problem with a campaign section's space, objectives and options."""
        issues: list[ConfigIssue] = []
        for build in (
            lambda: SearchSpace(section.space, where=("campaign", "space")),
            lambda: Objectives(section.objectives, where=("campaign", "objectives")),
            lambda: cls._check_options(section.optimizer.options),
        ):
            try:
                build()
            except ConfigError as error:
                issues.extend(error.issues)
        return issues

    @classmethod
    def _check_options(cls, options: Mapping[str, Any]) -> None:
        try:
            cls.Options.model_validate(options)
        except ValidationError as error:
            raise config_error(error, ("campaign", "optimizer", "options"), "<campaign>") from None

    def state(self) -> dict[str, Any]:
        """Everything needed to rebuild this optimizer, as JSON-ready data."""
        with self._lock:
            observations = [
                {"inputs": _json_inputs(inputs), "outcome": _json_outcome(self, row)}
                for inputs, row in zip(self._inputs, self._Y, strict=True)
            ]
        return {
            "version": STATE_VERSION,
            "kind": self.kind,
            "seed": self.seed,
            "options": self.options.model_dump(mode="json", exclude_unset=True),
            "space": self.space.to_config(),
            "objectives": self.objectives.to_config(),
            "observations": observations,
        }

    @classmethod
    def from_state(cls, state: Mapping[str, Any]) -> AskTellOptimizer:
        """Rebuild an optimizer from :meth:`state`.

        Called on the base class, it builds the kind the state names.

        Raises:
            OptimizerError: the state is of another version or kind.
        """
        from labctl.optimizers.registry import get

        if state.get("version") != STATE_VERSION:
            raise OptimizerError(f"optimizer state version {state.get('version')!r} is unknown")
        target: type[AskTellOptimizer] = cls if cls.kind else get(str(state["kind"]))
        if cls.kind and state.get("kind") != cls.kind:
            raise OptimizerError(f"a {state.get('kind')!r} state cannot rebuild a {cls.kind!r}")
        optimizer = target(
            state["space"], state["objectives"], seed=state["seed"], **state["options"]
        )
        observations = state["observations"]
        if observations:
            optimizer.tell(
                [item["inputs"] for item in observations],
                [item["outcome"] for item in observations],
            )
        return optimizer

    @classmethod
    def from_data(
        cls,
        data: pd.DataFrame,
        space: SearchSpace | Mapping[str, Any],
        objectives: Objectives | Mapping[str, Any],
        *,
        seed: int = 0,
        status_column: str = "status",
        **options: Any,
    ) -> Self:
        """Rebuild from a campaign table (one row per experiment, oldest first).

        A row's inputs are the columns named like the space's parameters (quantities, numbers
        in the parameters' units, text with units, or ``{"value", "units"}`` dicts); its
        outcomes the columns named like the objectives. A row with status ``failed``, or without
        any outcome, is told as failed; rows with another status than ``completed`` or ``failed``
        (``interrupted``) are skipped.

        Raises:
            InputError: a parameter column is missing.
        """
        optimizer = cls(space, objectives, seed=seed, **options)
        fixed = set(optimizer.space.fixed)
        needed = [name for name in optimizer.space.names if name not in fixed]
        missing = [name for name in needed if name not in data.columns]
        if missing:
            raise InputError(f"the table has no column for {missing}; it has {list(data.columns)}")
        inputs: list[dict[str, Any]] = []
        outcomes: list[dict[str, Any] | None] = []
        for _, row in data.iterrows():
            status = str(row[status_column]) if status_column in data.columns else "completed"
            if status not in ("completed", "failed"):
                continue
            inputs.append({name: row[name] for name in needed})
            outcome = {
                name: row[name]
                for name in optimizer.objectives.names
                if name in data.columns and not _missing(row[name])
            }
            outcomes.append(outcome if status == "completed" and outcome else None)
        if inputs:
            optimizer.tell(inputs, outcomes)
        return optimizer

    # ------------------------------------------------------------------ the verbs

    def tell(self, inputs: Sequence[Inputs], outcomes: Sequence[Outcome]) -> None:
        """Record experiments and their outcomes (``None``: failed, no outcome).

        Raises:
            InputError: lengths differ, or an input does not fit the space.
        """
        if len(inputs) != len(outcomes):
            raise InputError(f"{len(inputs)} inputs but {len(outcomes)} outcomes")
        X = self.space.encode_many(list(inputs))
        Y = self.objectives.to_array(list(outcomes))
        decoded = [dict(point) for point in inputs]
        with self._lock:
            self._inputs.extend(decoded)
            self._X = np.vstack([self._X, X])
            self._Y = np.vstack([self._Y, Y])

    def ask(self, n: int = 1, pending: Sequence[Inputs] = ()) -> list[dict[str, Any]]:
        """Suggest ``n`` new experiments, knowing ``pending`` ones are running.

        Args:
            n: how many suggestions.
            pending: settings being run (not told yet); suggestions avoid them.

        Returns:
            ``n`` decoded settings (name → quantity, option or fixed value), each feasible to
            1e-9 (bounds, mixture sums, linear constraints) and distinct from every told,
            pending and other suggested setting.
        """
        if n < 1:
            raise ValueError(f"ask for at least one suggestion, not {n}")
        X_pending = self.space.encode_many(list(pending))
        with self._lock:
            X, Y = self._X.copy(), self._Y.copy()
        suggestion = self._suggest(n, X, Y, X_pending)
        violation = self.space.violation(suggestion)
        if (violation > FEASIBILITY_TOLERANCE).any():  # pragma: no cover - a bug if reached
            raise OptimizerError(f"internal error: a suggestion violates the space by {violation}")
        return self.space.decode_many(suggestion)

    def ask_async(
        self, n: int = 1, pending: Sequence[Inputs] = ()
    ) -> concurrent.futures.Future[list[dict[str, Any]]]:
        """:meth:`ask` on this optimizer's worker thread; returns a future of its result."""
        if self._executor is None:
            self._executor = concurrent.futures.ThreadPoolExecutor(
                1, thread_name_prefix=f"labctl-{self.kind or 'optimizer'}"
            )
        return self._executor.submit(self.ask, n, list(pending))

    def close(self) -> None:
        """Stop the worker thread of :meth:`ask_async` (waits for a running suggestion)."""
        if self._executor is not None:
            self._executor.shutdown(wait=True)
            self._executor = None

    @abstractmethod
    def _suggest(self, n: int, X: np.ndarray, Y: np.ndarray, X_pending: np.ndarray) -> np.ndarray:
        """Return ``n x d`` new feasible model-space settings.

        Args:
            n: how many.
            X: ``t x d`` told settings in model space.
            Y: ``t x m`` told outcomes (NaN rows: failed).
            X_pending: ``p x d`` pending settings in model space.
        """

    # ------------------------------------------------------------------ helpers for fronts

    @property
    def initial_experiments(self) -> int:
        """Size of the space-filling design run before any model."""
        if self.options.initial_experiments is not None:
            return self.options.initial_experiments
        dimension = self.space.search_dim + len(self.space.categorical_columns)
        return max(2, 2 * (dimension + 1))

    def derived_seed(self, *parts: int) -> int:
        """A seed determined by this optimizer's seed and ``parts`` (e.g. the data size)."""
        return int(np.random.SeedSequence([self.seed, *parts]).generate_state(1)[0] >> 1)

    def sobol(self, n: int, known: np.ndarray) -> np.ndarray:
        """``n`` feasible Sobol settings after the first ``len(known)``, skipping repeats.

        Args:
            n: how many.
            known: ``t x d`` model-space settings already known (their count sets the start).
        """
        chosen: list[np.ndarray] = []
        start = len(known)
        while len(chosen) < n:
            batch = self.space.sample(n, seed=self.seed, start=start)
            start += n
            for x in batch:
                seen = np.vstack([known.reshape(-1, self.space.model_dim), *chosen])
                if is_new(x, seen):
                    chosen.append(x[None, :])
                if len(chosen) == n:
                    break
            if start > len(known) + 64 * n + 4096:
                from labctl.optimizers.errors import SpaceExhaustedError

                raise SpaceExhaustedError("no new feasible setting: the space seems used up")
        return np.vstack(chosen)

    @staticmethod
    def completed(Y: np.ndarray) -> np.ndarray:
        """Rows with at least one outcome (the others failed)."""
        return np.asarray(~np.isnan(Y).all(axis=1))

    # ------------------------------------------------------------------ results

    @property
    def observations(self) -> tuple[list[dict[str, Any]], np.ndarray]:
        """Told settings (as given) and an ``n x m`` array of outcomes (NaN: failed)."""
        with self._lock:
            return list(self._inputs), self._Y.copy()

    def reference_point(self) -> tuple[dict[str, float], bool]:
        """The hypervolume reference point in the objectives' units, and whether it was inferred.

        State the second in reports: an inferred point moves as data arrive.
        """
        with self._lock:
            Y = self._Y.copy()
        reference, inferred = self.objectives.reference_point(Y)
        natural = reference * self.objectives.signs
        return dict(zip(self.objectives.objective_names, natural.tolist(), strict=True)), inferred

    def progress(self) -> float:
        """Hypervolume of the feasible told outcomes (in the product of the objectives' units)."""
        with self._lock:
            Y = self._Y.copy()
        reference, _ = self.objectives.reference_point(Y)
        feasible = self.objectives.feasible(Y)
        return hypervolume(self.objectives.maximization(Y[feasible]), reference)

    def pareto_front(self) -> list[tuple[dict[str, Any], dict[str, float]]]:
        """The non-dominated feasible experiments: ``(inputs, outcomes)`` pairs."""
        with self._lock:
            inputs, Y = list(self._inputs), self._Y.copy()
        feasible = np.flatnonzero(self.objectives.feasible(Y))
        if len(feasible) == 0:
            return []
        front = feasible[non_dominated(self.objectives.maximization(Y[feasible]))]
        names = self.objectives.names
        return [(inputs[i], {name: float(Y[i, j]) for j, name in enumerate(names)}) for i in front]

    def plot_pareto(self, path: str | Path, title: str = "") -> Path:
        """Save a Pareto-front PNG of the told outcomes, with units on the axes."""
        from labctl.optimizers.pareto import plot_pareto

        with self._lock:
            Y = self._Y.copy()
        return plot_pareto(Y[self.completed(Y)], self.objectives, path, title=title)

    def to_dataframe(self) -> pd.DataFrame:
        """One row per told experiment, readable back by :meth:`from_data`.

        Columns: inputs (magnitudes in the parameters' units, or options), outcomes, ``status``.
        """
        import pandas as pd

        with self._lock:
            X, Y = self._X.copy(), self._Y.copy()
        rows = []
        for x, y in zip(X, Y, strict=True):
            decoded = self.space.decode(x)
            row: dict[str, Any] = {
                name: (value.magnitude if isinstance(value, pint.Quantity) else value)
                for name, value in decoded.items()
            }
            row.update(dict(zip(self.objectives.names, y.tolist(), strict=True)))
            row["status"] = "failed" if np.isnan(y).all() else "completed"
            rows.append(row)
        return pd.DataFrame(rows)


def _missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def _json_inputs(inputs: Mapping[str, Any]) -> dict[str, Any]:
    return {name: encode_quantity(value) for name, value in inputs.items()}


def _json_outcome(optimizer: AskTellOptimizer, row: np.ndarray) -> dict[str, float] | None:
    if np.isnan(row).all():
        return None
    return {
        name: float(value)
        for name, value in zip(optimizer.objectives.names, row.tolist(), strict=True)
        if not math.isnan(value)
    }
