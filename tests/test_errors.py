"""The error helpers every layer shares."""

from __future__ import annotations

from bluesky.utils import FailedStatus
from ophyd.status import Status

from labctl.errors import InterlockError, LabctlError, cause_chain


def test_the_chain_follows_causes_and_a_failed_status_to_the_interlock() -> None:
    interlock = InterlockError("cell lifted, site failed", interlock="contact_lost")
    status = Status()
    status.set_exception(interlock)
    failed = FailedStatus(status)
    try:
        try:
            raise failed
        except FailedStatus as error:
            raise LabctlError("experiment 4 failed") from error
    except LabctlError as error:
        outer = error
    assert list(cause_chain(outer))[:3] == [outer, failed, interlock]


def test_a_chain_that_loops_ends() -> None:
    first, second = ValueError("a"), ValueError("b")
    first.__cause__, second.__cause__ = second, first
    assert list(cause_chain(first)) == [first, second]


def test_an_error_whose_argument_only_looks_like_a_status_is_not_followed() -> None:
    class Answer:
        def exception(self) -> str:
            return "not an exception"

    error = RuntimeError(Answer())
    assert list(cause_chain(error)) == [error]
