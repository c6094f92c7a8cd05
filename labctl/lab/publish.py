"""Documents streamed live to remote consumers through bluesky's 0MQ proxy.

A lab whose config has ``publish: {proxy: "HOST:PORT"}`` subscribes bluesky's
:class:`~bluesky.callbacks.zmq.Publisher` to its RunEngine: every document goes to the proxy's
input. The proxy (``labctl proxy serve``, bluesky's :class:`~bluesky.callbacks.zmq.Proxy`) passes
them to every consumer connected to its output — bluesky's
:class:`~bluesky.callbacks.zmq.RemoteDispatcher` in another process or on another computer::

    from bluesky.callbacks.zmq import RemoteDispatcher

    dispatcher = RemoteDispatcher("labhost:5578")
    dispatcher.subscribe(print)
    dispatcher.start()  # until interrupted

With ``safety.rewind`` on, events reach the proxy the way they reach the store: once, after the
plan has passed the checkpoint it could rewind to (see :mod:`labctl.lab.rewind`).

0MQ drops what a publisher sends before its connection is up (and a consumer sees only what is
published after it subscribed): a consumer watches live runs, the store keeps every run.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from labctl.config import PublishSection
from labctl.errors import LabctlError
from labctl.lab.rewind import RewindSafeDispatcher

__all__ = ["attach_publisher", "serve_proxy"]


def attach_publisher(engine: Any, section: PublishSection, *, rewind: bool) -> Callable[[], None]:
    """Publish every document of ``engine`` to the proxy ``section`` names.

    Args:
        engine: the lab's RunEngine.
        section: the config's ``publish`` section.
        rewind: hold events until the next checkpoint (as the store does).

    Returns:
        A function that unsubscribes the publisher and closes its socket.
    """
    from bluesky.callbacks.zmq import Publisher

    publisher = Publisher(section.proxy, prefix=section.prefix.encode())
    token: int
    if rewind:
        token = RewindSafeDispatcher(publisher).attach(engine)
    else:
        token = engine.subscribe(publisher)

    def close() -> None:
        engine.unsubscribe(token)
        publisher.close()  # type: ignore[no-untyped-call]

    return close


class ProxyError(LabctlError):
    """The 0MQ proxy cannot bind the addresses it was given (in use, no such interface)."""


def serve_proxy(
    in_address: str, out_address: str, on_ready: Callable[[str, str], None] | None = None
) -> None:
    """Run bluesky's 0MQ proxy until interrupted.

    Args:
        in_address: where publishers (labs) send, ``HOST:PORT`` (``0.0.0.0:5577`` for a network).
        out_address: where consumers subscribe, ``HOST:PORT``.
        on_ready: called with the two bound addresses once both sockets are bound.
    """
    import zmq
    from bluesky.callbacks.zmq import Proxy

    try:
        proxy = Proxy(in_address, out_address)
    except zmq.ZMQError as error:
        raise ProxyError(
            f"the 0MQ proxy cannot bind --in {in_address} and --out {out_address}: {error}"
        ) from None
    if on_ready is not None:
        on_ready(str(proxy.in_port), str(proxy.out_port))
    proxy.start()  # type: ignore[no-untyped-call]
