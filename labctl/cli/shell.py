"""The bench console: IPython with the lab, its RunEngine, every device and bluesky's helpers."""

from __future__ import annotations

import os
from typing import Any

from labctl.protocols import LabLike

__all__ = ["banner", "shell_namespace", "start_shell"]


def shell_namespace(lab: LabLike) -> dict[str, Any]:
    """What the console offers: ``RE``, ``lab``, each device by name, ``bp``/``bps``/``bpp``."""
    import bluesky.plan_stubs as bps
    import bluesky.plans as bp
    import bluesky.preprocessors as bpp

    namespace: dict[str, Any] = {"RE": lab.RE, "lab": lab, "bp": bp, "bps": bps, "bpp": bpp}
    for name, device in lab.devices.items():
        if name in namespace:
            continue  # a device called "bp" would shadow the plans; the lab keeps it
        namespace[name] = device
    return namespace


def banner(lab: LabLike) -> str:
    """The greeting: the lab, its devices with their connection state, the store."""
    lines = [f"labctl console — lab {lab.name!r} ({lab.config.source})"]
    for name, device in lab.devices.items():
        twin = lab.twins.get(name)
        where = getattr(getattr(device, "transport", None), "address", "?")
        state = "connected" if getattr(device, "connected", True) else "NOT connected"
        origin = f"twin {twin.kind}" if twin is not None else "instrument"
        lines.append(
            f"  {name:<16} {type(device).__mro__[1].__name__:<20} {state} ({origin} {where})"
        )
    if lab.store is not None:
        lines.append(f"store: {lab.store.location}")
    lines.append("RE, lab, bp, bps, bpp and every device are defined; %wa, %mov, %ct work.")
    lines.append("Ctrl-C pauses a running plan: RE.resume() or RE.abort().")
    return "\n".join(lines)


def start_shell(lab: LabLike) -> None:
    """Run IPython on ``lab`` until the user exits."""
    from bluesky.callbacks.best_effort import BestEffortCallback
    from IPython import start_ipython
    from traitlets.config import Config

    best_effort = BestEffortCallback()  # type: ignore[no-untyped-call]
    if not os.environ.get("DISPLAY"):
        best_effort.disable_plots()  # type: ignore[no-untyped-call]
    lab.RE.subscribe(best_effort)
    namespace = shell_namespace(lab)
    namespace["bec"] = best_effort
    config = Config()
    config.TerminalInteractiveShell.banner2 = banner(lab) + "\n"
    config.TerminalIPythonApp.display_banner = True
    config.InteractiveShellApp.exec_lines = [
        "from bluesky.magics import BlueskyMagics as _BlueskyMagics",
        "get_ipython().register_magics(_BlueskyMagics)",
        "del _BlueskyMagics",
    ]
    config.HistoryManager.enabled = False
    start_ipython(argv=[], user_ns=namespace, config=config)
