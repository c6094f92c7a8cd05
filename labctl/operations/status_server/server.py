"""The OPC UA status server: a real asyncua server showing a running lab, read-only by default.

``StatusServer(lab, options).start()`` serves the lab's node tree (:mod:`.tree`) on its own
event loop thread (``status-server-loop``); values come from a :class:`.LabPublisher` (documents,
polls, campaign records) and are copied onto the nodes every ``flush_interval`` seconds, so
nothing the server does runs on, or waits for, the RunEngine's thread. ``stop()`` closes the
socket and ends every thread it started.

Methods Pause (at the next checkpoint), PauseNow, Resume and Abort exist only when the options
say ``writable: true``, and only authenticated users may call them (:mod:`.security`). They act
through :class:`.RunEngineControl`; run plans with ``server.control.run(plan)`` so that a plan
paused from OPC UA can be resumed or aborted from OPC UA too.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import logging
from pathlib import Path
from typing import Any

from asyncua import Server, ua

from labctl.config import StatusServerSection
from labctl.errors import LabctlError
from labctl.operations.status_server.control import ControlRefused, RunEngineControl
from labctl.operations.status_server.publisher import LabPublisher
from labctl.operations.status_server.security import (
    LabPermissions,
    LabUsers,
    TrustedClients,
    load_certificate,
    passwords_from_environment,
)
from labctl.operations.status_server.tree import (
    FOLDERS,
    NAMESPACE_URI,
    ROOT,
    RUN_ENGINE,
    MethodSpec,
    VariableSpec,
)
from labctl.protocols import LabLike
from labctl.transports.background_loop import BackgroundLoop
from labctl.units import to_magnitude

__all__ = ["APPLICATION_URI", "METHODS", "StatusServer", "StatusServerError"]

log = logging.getLogger(__name__)

APPLICATION_URI = "urn:labctl:status-server"
"""The server's application URI (a ``Basic256Sha256`` certificate's SAN should carry it)."""

METHODS = (
    MethodSpec(f"{RUN_ENGINE}/Pause", "pause the running plan at its next checkpoint"),
    MethodSpec(f"{RUN_ENGINE}/PauseNow", "pause the running plan at once"),
    MethodSpec(f"{RUN_ENGINE}/Resume", "resume the paused plan"),
    MethodSpec(f"{RUN_ENGINE}/Abort", "abort the running or paused plan"),
)
"""The methods of a writable server."""

_VARIANT = {
    "Double": ua.VariantType.Double,
    "Int64": ua.VariantType.Int64,
    "Boolean": ua.VariantType.Boolean,
    "String": ua.VariantType.String,
}


class StatusServerError(LabctlError):
    """The status server cannot start (a busy port, unreadable certificates, ...)."""


class StatusServer:
    """Serves a running lab's status over OPC UA.

    Args:
        lab: the running :class:`~labctl.lab.session.Lab` (or anything with ``RE``, ``devices``,
            ``config``, ``name``, ``sensors()``).
        options: the config's ``status_server`` section (default: loopback, port 4840,
            read-only, no encryption).
        base_directory: where relative certificate paths start (default: the config's folder).
        flush_interval: seconds between copies of changed values onto the nodes.
    """

    def __init__(
        self,
        lab: LabLike,
        options: StatusServerSection | None = None,
        *,
        base_directory: Path | None = None,
        flush_interval: float = 0.1,
    ) -> None:
        self.lab = lab
        self.options = options or StatusServerSection()
        source = Path(str(lab.config.source))
        self.base_directory = base_directory or source.parent
        self.flush_interval = flush_interval
        self.publisher = LabPublisher(lab, period=to_magnitude(self.options.period, "s"))
        self.control = RunEngineControl(lab.RE)
        self._passwords = passwords_from_environment(self.options.users, source)
        self._loop: BackgroundLoop | None = None
        self._server: Server | None = None
        self._nodes: dict[str, Any] = {}
        self._kinds: dict[str, ua.VariantType] = {}
        self._flusher: concurrent.futures.Future[None] | None = None
        self._executor: concurrent.futures.ThreadPoolExecutor | None = None
        self._endpoint = ""
        self.namespace_index = 0

    @property
    def endpoint(self) -> str:
        """``opc.tcp://host:port`` while serving (empty otherwise)."""
        return self._endpoint

    @property
    def writable(self) -> bool:
        """Whether the RunEngine's methods are offered."""
        return self.options.writable

    def on_record(self, record: Any, state: Any) -> None:
        """A campaign's ``on_record`` hook (see :meth:`LabPublisher.on_record`)."""
        self.publisher.on_record(record, state)

    def start(self) -> str:
        """Build the tree, start serving and return the endpoint.

        Raises:
            StatusServerError: the server cannot listen (port in use) or its certificates
                cannot be loaded.
        """
        if self._server is not None:
            return self._endpoint
        self._executor = concurrent.futures.ThreadPoolExecutor(
            1, thread_name_prefix="status-server-control"
        )
        self._loop = BackgroundLoop(name="status-server-loop")
        try:
            self.publisher.start()
            self._server, port = self._loop.run(self._serve(), 60.0)
        except BaseException as error:
            self._shutdown()
            if isinstance(error, LabctlError):
                raise
            if isinstance(error, OSError | TimeoutError | ValueError | ua.UaError):
                raise StatusServerError(
                    f"the status server cannot start on {self.options.host}:{self.options.port}: "
                    f"{error}"
                ) from error
            raise
        host = self.options.host
        shown = f"[{host}]" if ":" in host else host
        self._endpoint = f"opc.tcp://{shown}:{port}"
        self._flusher = self._loop.submit(self._flush_forever())
        return self._endpoint

    def stop(self) -> None:
        """Stop serving, unsubscribe and end the server's threads (idempotent)."""
        self._shutdown()

    def _shutdown(self) -> None:
        loop, self._loop = self._loop, None
        server, self._server = self._server, None
        self.publisher.stop()
        if loop is not None:
            if self._flusher is not None:
                self._flusher.cancel()
                self._flusher = None
            if server is not None:
                with contextlib.suppress(TimeoutError):
                    loop.run(_stop_server(server), 15.0)
            with contextlib.suppress(TimeoutError, RuntimeError):
                loop.run(loop.loop.shutdown_default_executor(), 5.0)
            loop.stop()
        if self._executor is not None:
            self._executor.shutdown(wait=True, cancel_futures=True)
            self._executor = None
        self._nodes.clear()
        self._endpoint = ""

    def __enter__(self) -> StatusServer:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    # ----- on the server's loop --------------------------------------------------------------

    async def _serve(self) -> tuple[Server, int]:
        options = self.options
        server = Server(user_manager=LabUsers(self._passwords))
        await server.init()
        server.set_endpoint(f"opc.tcp://{options.host}:{options.port}")
        server.set_server_name(f"labctl status server ({self.lab.name})")
        await server.set_application_uri(APPLICATION_URI)
        server.allow_remote_admin(False)
        server.set_identity_tokens([ua.AnonymousIdentityToken, ua.UserNameIdentityToken])
        permissions = LabPermissions(calls_for_users=options.writable)
        if options.security == "Basic256Sha256":
            assert options.certificate is not None
            assert options.private_key is not None
            certificate = self._resolve(options.certificate)
            private_key = self._resolve(options.private_key)
            load_certificate(certificate)  # a clear error before asyncua's
            await server.load_certificate(str(certificate))
            await server.load_private_key(str(private_key))
            server.set_security_policy(
                [ua.SecurityPolicyType.Basic256Sha256_SignAndEncrypt],
                permission_ruleset=permissions,
            )
            if options.trusted_clients:
                trusted = [load_certificate(self._resolve(p)) for p in options.trusted_clients]
                server.set_certificate_validator(TrustedClients(trusted))
        else:
            server.set_security_policy(
                [ua.SecurityPolicyType.NoSecurity], permission_ruleset=permissions
            )
        self.namespace_index = await server.register_namespace(NAMESPACE_URI)
        await self._build(server)
        await server.start()
        sockets = server.bserver._server.sockets if server.bserver._server else []
        port = sockets[0].getsockname()[1] if sockets else options.port
        return server, int(port)

    def _resolve(self, path: Path) -> Path:
        return path if path.is_absolute() else (self.base_directory / path).resolve()

    async def _build(self, server: Server) -> None:
        self._nodes.clear()
        self._nodes[""] = server.nodes.objects
        for spec in self.publisher.specs():
            await self._add_variable(server, spec)
        if self.options.writable:
            for method in METHODS:
                await self._add_method(server, method)

    async def _object(self, server: Server, path: str) -> Any:
        """The object (or folder) at ``path``, made with its ancestors when missing."""
        node = self._nodes.get(path)
        if node is not None:
            return node
        parent_path, _, name = path.rpartition("/")
        parent = await self._object(server, parent_path)
        node_id = ua.NodeId(path, self.namespace_index)
        browse_name = ua.QualifiedName(name, self.namespace_index)
        if name in FOLDERS:
            node = await parent.add_folder(node_id, browse_name)
        else:
            node = await parent.add_object(node_id, browse_name)
        if path == ROOT:
            await node.write_attribute(
                ua.AttributeIds.DisplayName,
                ua.DataValue(ua.Variant(ua.LocalizedText(f"{ROOT} {self.lab.name}"))),
            )
        self._nodes[path] = node
        return node

    async def _add_variable(self, server: Server, spec: VariableSpec) -> None:
        if spec.path in self._nodes:
            return
        parent = await self._object(server, spec.parent)
        variant = _VARIANT[spec.kind]
        value = self.publisher.value(spec.path)
        node = await parent.add_variable(
            ua.NodeId(spec.path, self.namespace_index),
            ua.QualifiedName(spec.name, self.namespace_index),
            ua.Variant(value, variant),
            varianttype=variant,
        )
        if spec.description:
            await node.write_attribute(
                ua.AttributeIds.Description,
                ua.DataValue(ua.Variant(ua.LocalizedText(spec.description))),
            )
        # Read-only for everyone (nodes are created without write access; say so anyway).
        read_only = ua.DataValue(ua.Variant(ua.AccessLevel.CurrentRead.mask, ua.VariantType.Byte))
        await node.write_attribute(ua.AttributeIds.AccessLevel, read_only)
        await node.write_attribute(ua.AttributeIds.UserAccessLevel, read_only)
        self._nodes[spec.path] = node
        self._kinds[spec.path] = variant

    async def _add_method(self, server: Server, method: MethodSpec) -> None:
        parent = await self._object(server, method.parent)
        handler = self._method_handler(method.name)
        node = await parent.add_method(
            ua.NodeId(method.path, self.namespace_index),
            ua.QualifiedName(method.name, self.namespace_index),
            handler,
            [],
            [ua.VariantType.String],
        )
        await node.write_attribute(
            ua.AttributeIds.Description,
            ua.DataValue(ua.Variant(ua.LocalizedText(method.description))),
        )
        self._nodes[method.path] = node

    def _method_handler(self, name: str) -> Any:
        control = self.control
        actions = {
            "Pause": lambda: control.pause(defer=True),
            "PauseNow": lambda: control.pause(defer=False),
            "Resume": control.resume,
            "Abort": lambda: control.abort("aborted over OPC UA"),
        }
        action = actions[name]

        async def handler(parent: Any, *arguments: Any) -> Any:  # noqa: ARG001
            # The methods take no input arguments; asyncua does not check the count, and a call
            # with some (a client's mistake, or fuzz) must be refused, not acted on (OPC UA
            # Part 4, Call service: BadTooManyArguments).
            if arguments:
                log.warning("status server: %s refused: %d arguments given", name, len(arguments))
                return ua.StatusCode(ua.StatusCodes.BadTooManyArguments)
            loop = asyncio.get_running_loop()
            try:
                # bluesky's calls wait on its own loop: keep them off the server's loop.
                message = await asyncio.wait_for(
                    loop.run_in_executor(self._executor, action), timeout=30.0
                )
            except ControlRefused as refused:
                log.warning("status server: %s refused: %s", name, refused)
                return ua.StatusCode(ua.StatusCodes.BadInvalidState)
            except TimeoutError:
                return ua.StatusCode(ua.StatusCodes.BadTimeout)
            log.info("status server: %s: %s", name, message)
            return [ua.Variant(message, ua.VariantType.String)]

        return handler

    async def _flush_forever(self) -> None:
        server = self._server
        assert server is not None
        while True:
            try:
                await self._flush(server)
            except asyncio.CancelledError:
                raise
            except Exception:  # a value that cannot be shown must not stop the others
                log.exception("status server: updating the tree failed")
            await asyncio.sleep(self.flush_interval)

    async def _flush(self, server: Server) -> None:
        self.publisher.refresh_run_engine()
        new, changed = self.publisher.drain()
        for spec in new:
            await self._add_variable(server, spec)
        for path, value in changed.items():
            node = self._nodes.get(path)
            if node is None:
                continue
            await server.write_attribute_value(
                node.nodeid, ua.DataValue(ua.Variant(value, self._kinds[path]))
            )

    def __repr__(self) -> str:
        where = self._endpoint or "stopped"
        return f"<StatusServer {self.lab.name!r} {where}>"


async def _stop_server(server: Server) -> None:
    # asyncua's clock task sleeps a second between ticks and stop() waits for it to notice:
    # end it now, so stopping takes milliseconds.
    iserver = server.iserver
    clock = getattr(iserver, "time_task", None)
    if clock is not None:
        iserver._time_task_stop = True
        clock.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await clock
        iserver.time_task = None
    with contextlib.suppress(TimeoutError, OSError):
        await asyncio.wait_for(server.stop(), 10.0)
