"""labctl: self-driving-laboratory control for battery research.

``import labctl`` stays light: :class:`labctl.Lab` (which brings bluesky, ophyd and Tiled with it)
is imported on first use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

__all__ = ["Lab", "__version__"]

if TYPE_CHECKING:
    from labctl.lab.session import Lab


def __getattr__(name: str) -> Any:
    if name == "Lab":
        from labctl.lab.session import Lab

        return Lab
    raise AttributeError(f"module 'labctl' has no attribute {name!r}")
