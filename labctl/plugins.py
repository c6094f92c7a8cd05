"""Names other distributions add to labctl through entry points, merged with labctl's own.

A lab's own package adds device classes, twins, experiment kinds and optimizers by declaring
entry points (``[project.entry-points."labctl.devices"]`` and so on) whose values are
``module:Class`` import strings. Both registries (:mod:`labctl.lab.registry`,
:mod:`labctl.optimizers.registry`) merge them here, so a name claimed twice by different classes
is refused the same way everywhere, never silently overridden.
"""

from __future__ import annotations

from collections.abc import Mapping
from importlib.metadata import entry_points

from labctl.errors import LabctlError

__all__ = ["merged_with_entry_points"]


def merged_with_entry_points(
    builtin: Mapping[str, str], group: str, clash: type[LabctlError]
) -> dict[str, str]:
    """``builtin`` (name → ``module:Class``) with every entry point of ``group`` added.

    Raises:
        clash: an entry point claims a name another class already has.
    """
    merged = dict(builtin)
    for entry in entry_points(group=group):
        target = entry.value.replace(" ", "")
        known = merged.get(entry.name)
        if known is not None and known != target:
            raise clash(
                f"{group} name {entry.name!r} is claimed by both {known} and {target} "
                f"(from distribution {entry.dist.name if entry.dist else '?'}); rename one"
            )
        merged[entry.name] = target
    return merged
