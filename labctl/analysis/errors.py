"""The error every analysis function raises when its data cannot give an answer."""

from __future__ import annotations

from labctl.errors import LabctlError

__all__ = ["AnalysisError"]


class AnalysisError(LabctlError, ValueError):
    """A curve cannot be turned into the requested number.

    Raised for arrays that are not usable (wrong shape, too short, non-finite values) and for
    data that do not show the feature an analysis looks for (no arc in an impedance spectrum, a
    threshold never crossed, no peak in a sweep). The message says which analysis failed and why,
    with the numbers that matter.

    Args:
        analysis: the analysis that failed, e.g. ``"Randles fit"`` or ``"LSV stability limit"``.
        detail: what is wrong with the data, as a sentence.
    """

    def __init__(self, analysis: str, detail: str) -> None:
        self.analysis = analysis
        self.detail = detail
        super().__init__(f"{analysis}: {detail}")
