"""OPC UA client transport (asyncua), usable from blocking code with hard timeouts.

The asyncua client lives on the process's shared background loop
(:func:`labctl.transports.background_loop.shared_loop`); callers block on a future with a timeout,
so a silent server costs at most the configured timeout and never hangs the RunEngine. After a
failure the connection is dropped; the next call reconnects once (no silent retry loop).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Sequence
from typing import Any

from asyncua import Client, ua

from labctl.errors import DeviceConnectionError, DeviceTimeout, ProtocolError
from labctl.transports.background_loop import BackgroundLoop, shared_loop

__all__ = ["OpcUaTransport"]

# asyncua logs every dropped connection at WARNING/ERROR; labctl raises its own clear error.
logging.getLogger("asyncua").setLevel(logging.CRITICAL)


class OpcUaTransport:
    """A connection to one OPC UA server.

    Args:
        address: the endpoint, ``opc.tcp://host:port[/path]``.
        device: the name of the device using it (for error messages).
        connect_timeout: seconds to open a session.
        read_timeout: seconds for one read request.
        loop: the background loop to run on (the shared one by default).
    """

    def __init__(
        self,
        address: str,
        *,
        device: str,
        connect_timeout: float = 5.0,
        read_timeout: float = 2.0,
        loop: BackgroundLoop | None = None,
    ) -> None:
        if not address.startswith("opc.tcp://"):
            raise DeviceConnectionError(
                device, address, "not an OPC UA endpoint", expected="opc.tcp://host:port"
            )
        self.address = address
        self.device = device
        self.connect_timeout = connect_timeout
        self.read_timeout = read_timeout
        self._loop = loop or shared_loop()
        self._client: Client | None = None

    @property
    def connected(self) -> bool:
        """Whether a session is open (as far as this side knows)."""
        return self._client is not None

    def connect(self) -> None:
        """Open a session if none is open.

        Raises:
            DeviceTimeout: the server did not answer within the connect timeout.
            DeviceConnectionError: the server refused or is not there.
        """
        if self._client is not None:
            return
        client = Client(url=self.address, timeout=self.read_timeout)
        try:
            self._loop.run(
                asyncio.wait_for(client.connect(), self.connect_timeout),
                self.connect_timeout + 1.0,
            )
        except TimeoutError:
            self._abandon(client)
            raise DeviceTimeout(
                self.device,
                self.address,
                f"no OPC UA session within {self.connect_timeout:g} s",
                sent="OpenSecureChannel/CreateSession",
                expected="a session",
            ) from None
        except (OSError, ua.UaError, asyncio.CancelledError) as error:
            self._abandon(client)
            raise DeviceConnectionError(
                self.device,
                self.address,
                f"cannot connect ({_describe(error)})",
                sent="OpenSecureChannel/CreateSession",
                expected="a session",
            ) from error
        self._client = client

    def read_values(self, nodes: Sequence[str]) -> list[Any]:
        """Read the current values of ``nodes`` (string node ids, ``ns=2;s=glovebox.o2``).

        Reconnects first if the last call failed.

        Raises:
            DeviceTimeout: no reply within the read timeout.
            DeviceConnectionError: the connection is gone.
            ProtocolError: the server answered with a bad status (e.g. unknown node).
        """
        self.connect()
        client = self._client
        assert client is not None
        sent = f"Read {', '.join(nodes)}"
        try:
            node_objects = [client.get_node(node) for node in nodes]
            data_values = self._loop.run(
                asyncio.wait_for(client.read_attributes(node_objects), self.read_timeout),
                self.read_timeout + 0.5,
            )
        except TimeoutError:
            self._drop()
            raise DeviceTimeout(
                self.device,
                self.address,
                f"no reply within {self.read_timeout:g} s",
                sent=sent,
                expected="the node values",
            ) from None
        except ua.UaStatusCodeError as error:
            raise ProtocolError(
                self.device,
                self.address,
                f"the server refused the read ({_describe(error)})",
                sent=sent,
                expected="Good status for every node",
            ) from error
        except (OSError, ua.UaError, asyncio.CancelledError, ConnectionError) as error:
            self._drop()
            raise DeviceConnectionError(
                self.device,
                self.address,
                f"connection lost ({_describe(error)})",
                sent=sent,
                expected="the node values",
            ) from error
        except ValueError as error:  # malformed node id string
            raise ProtocolError(
                self.device, self.address, f"bad node id ({error})", sent=sent
            ) from error
        values = []
        for node, data_value in zip(nodes, data_values, strict=True):
            status = data_value.StatusCode
            if status is not None and not status.is_good():
                raise ProtocolError(
                    self.device,
                    self.address,
                    f"node {node} answered with status {status.name}",
                    sent=sent,
                    expected="Good status for every node",
                )
            values.append(data_value.Value.Value if data_value.Value is not None else None)
        return values

    def close(self) -> None:
        """Close the session (idempotent; never raises for a server that is already gone)."""
        client, self._client = self._client, None
        if client is not None:
            self._abandon(client)

    def _drop(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            self._abandon(client)

    def _abandon(self, client: Client) -> None:
        """Disconnect without waiting long: a dead server must not make closing hang."""
        with contextlib.suppress(TimeoutError, RuntimeError):
            self._loop.run(_quiet_disconnect(client), 1.5)

    def __repr__(self) -> str:
        return f"OpcUaTransport({self.address!r}, device={self.device!r})"


async def _quiet_disconnect(client: Client) -> None:
    try:
        await asyncio.wait_for(client.disconnect(), 1.0)
    except (TimeoutError, OSError, ua.UaError, asyncio.CancelledError, AttributeError):
        pass
    except Exception:
        pass


def _describe(error: BaseException) -> str:
    text = str(error).strip()
    return f"{type(error).__name__}: {text}" if text else type(error).__name__
