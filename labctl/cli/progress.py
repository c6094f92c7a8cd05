"""Live progress of a campaign in the terminal: experiment n of N, best values, idle time, ETA."""

from __future__ import annotations

from collections.abc import Mapping
from types import TracebackType

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from labctl.plans.records import CampaignState, ExperimentRecord

__all__ = ["CampaignProgress"]


class CampaignProgress:
    """A rich progress bar fed by the campaign's ``on_record`` hook.

    Args:
        console: where to draw.
        total: experiments in the budget.
        done: experiments already done (a resumed campaign).
        directions: objective → ``maximize``/``minimize``, for "best so far".
    """

    def __init__(
        self, console: Console, total: int, done: int, directions: Mapping[str, str]
    ) -> None:
        self.directions = dict(directions)
        self._progress = Progress(
            TextColumn("[bold]experiment"),
            MofNCompleteColumn(),
            BarColumn(),
            TimeRemainingColumn(),
            TextColumn("{task.fields[best]}"),
            console=console,
            transient=False,
        )
        self._task = self._progress.add_task("campaign", total=total, completed=done, best="")

    def __enter__(self) -> CampaignProgress:
        self._progress.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self._progress.stop()

    def on_record(self, record: ExperimentRecord, state: CampaignState) -> None:
        """Advance the bar and show the best value of each objective so far."""
        from labctl.campaign.runner import best_values

        best = best_values(state, self.directions)
        shown = "  ".join(f"{name} {value:.4g}" for name, value in best.items())
        if record.status != "completed":
            shown += f"  [yellow]#{record.iteration} failed: {record.reason}[/]"
        self._progress.update(self._task, completed=state.proposals_done, best=shown)
