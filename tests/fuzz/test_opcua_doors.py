"""Bad input through OPC UA: random writes and method calls against the servers labctl runs.

Two servers take input from OPC UA clients: the lab's status server (``labctl opcua serve``) and
the environment controller's twin. A plain asyncua client writes random values of random variant
types to every variable node and calls every method with random arguments, anonymously and as an
authenticated user. The only outcomes allowed are a refusal with an OPC UA status code (the
client's ``UaStatusCodeError``) or, for an authorised method call, the call's own answer; the
server must go on serving, and nothing it publishes may change because of a refused request.
"""

from __future__ import annotations

import asyncio
import copy
import math
import threading
import time
from collections.abc import Coroutine, Iterator
from pathlib import Path
from typing import Any

import bluesky.plan_stubs as bps
import bluesky.preprocessors as bpp
import pytest
from asyncua import Client, Server, ua
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from labctl.config import StatusServerSection
from labctl.errors import ProtocolError
from labctl.lab.session import Lab
from labctl.operations.status_server import NAMESPACE_URI, StatusServer
from labctl.simulators.environment.twin import EnvironmentTwin
from labctl.testing.configs import sim_lab_document, write_config
from labctl.transports.background_loop import BackgroundLoop

PASSWORD_VARIABLE = "LABCTL_TEST_FUZZ_OPCUA_PASSWORD"
PASSWORD = "fuzz-s3cret"
STATE = "Lab/RunEngine/FunctionalUnitState/CurrentState"
# Every refusal a write or call may meet; anything else (or no refusal) fails the test.
REFUSALS = {
    "BadUserAccessDenied",
    "BadNotWritable",
    "BadTypeMismatch",
    "BadInvalidArgument",
    "BadArgumentsMissing",
    "BadTooManyArguments",
    "BadInvalidState",
    "BadMethodInvalid",
    "BadNotExecutable",
    "BadNodeIdUnknown",
    "BadAttributeIdInvalid",
}

NASTY_VALUES: list[ua.Variant] = [
    ua.Variant(math.nan, ua.VariantType.Double),
    ua.Variant(math.inf, ua.VariantType.Double),
    ua.Variant(-1e308, ua.VariantType.Double),
    ua.Variant(2**63 - 1, ua.VariantType.Int64),
    ua.Variant(-1, ua.VariantType.Int32),
    ua.Variant(True, ua.VariantType.Boolean),
    ua.Variant("", ua.VariantType.String),
    ua.Variant("\x00" * 3 + "ünïcödé" * 50, ua.VariantType.String),
    ua.Variant(b"\xff\xfe\x00", ua.VariantType.ByteString),
    ua.Variant([1.0, math.nan], ua.VariantType.Double),
    ua.Variant(None, ua.VariantType.Null),
    ua.Variant(ua.LocalizedText("hacked"), ua.VariantType.LocalizedText),
]

VARIANTS = st.one_of(
    st.sampled_from(NASTY_VALUES),
    st.floats().map(lambda v: ua.Variant(v, ua.VariantType.Double)),
    st.integers(-(2**63), 2**63 - 1).map(lambda v: ua.Variant(v, ua.VariantType.Int64)),
    st.booleans().map(lambda v: ua.Variant(v, ua.VariantType.Boolean)),
    st.text(max_size=40).map(lambda v: ua.Variant(v, ua.VariantType.String)),
    st.binary(max_size=20).map(lambda v: ua.Variant(v, ua.VariantType.ByteString)),
)


def _run(coroutine: Coroutine[Any, Any, Any]) -> Any:
    return asyncio.run(asyncio.wait_for(coroutine, 60))


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    """The glovebox on its twin (no store: nothing here writes runs)."""
    directory = tmp_path_factory.mktemp("fuzz-opcua-lab")
    document = copy.deepcopy(sim_lab_document())
    document["devices"] = {"glovebox": document["devices"]["glovebox"]}
    with Lab.from_config(write_config(directory, document), with_store=False) as running:
        yield running


@pytest.fixture(scope="module")
def server(lab: Lab) -> Iterator[StatusServer]:
    """A writable status server (methods for user ``operator``) on a free loopback port."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv(PASSWORD_VARIABLE, PASSWORD)
        options = StatusServerSection(
            port=0, writable=True, users={"operator": PASSWORD_VARIABLE}, period="0.2 s"
        )
        with StatusServer(lab, options) as serving:
            yield serving


def _client(endpoint: str, *, user: bool) -> Client:
    client = Client(endpoint, timeout=5)
    if user:
        client.set_user("operator")
        client.set_password(PASSWORD)
    return client


async def _tree(client: Client) -> tuple[list[Any], list[Any]]:
    """Every variable and method node under ``Objects/Lab``."""
    index = await client.get_namespace_index(NAMESPACE_URI)
    variables: list[Any] = []
    methods: list[Any] = []
    pending = [client.get_node(f"ns={index};s=Lab")]
    while pending:
        node = pending.pop()
        for child in await node.get_children():
            node_class = await child.read_node_class()
            if node_class == ua.NodeClass.Variable:
                variables.append(child)
            elif node_class == ua.NodeClass.Method:
                methods.append(child)
            elif node_class == ua.NodeClass.Object:
                pending.append(child)
    return variables, methods


async def _write_refused(node: Any, variant: ua.Variant) -> str:
    """The status code name refusing the write (the test fails if the write is accepted)."""
    try:
        await node.write_value(ua.DataValue(variant))
    except ua.UaStatusCodeError as refused:
        return type(refused).__name__
    return f"accepted {variant!r} at {node.nodeid.to_string()}"


async def _identity(client: Client) -> tuple[Any, ...]:
    """What a refused request must never change: identification and RunEngine state."""
    index = await client.get_namespace_index(NAMESPACE_URI)
    paths = ("Lab/Identification/Name", "Lab/Identification/ConfigHash", STATE)
    return tuple([await client.get_node(f"ns={index};s={p}").read_value() for p in paths])


@pytest.mark.parametrize("user", [False, True], ids=["anonymous", "operator"])
def test_nasty_writes_to_every_status_variable_are_refused(
    server: StatusServer, user: bool
) -> None:
    async def attack() -> tuple[list[str], tuple[Any, ...], tuple[Any, ...], int]:
        async with _client(server.endpoint, user=user) as client:
            before = await _identity(client)
            variables, _ = await _tree(client)
            refusals = [
                await _write_refused(node, NASTY_VALUES[i % len(NASTY_VALUES)])
                for i, node in enumerate(variables)
            ]
            # Adding and deleting nodes are refused too.
            for attempt in (
                client.nodes.objects.add_variable(2, "intruder", 1.0),
                client.delete_nodes([variables[0]]),
            ):
                try:
                    await attempt
                except ua.UaStatusCodeError as refused:
                    refusals.append(type(refused).__name__)
                else:
                    refusals.append("node service accepted")
            after = await _identity(client)
        # A fresh session still reads: the server kept serving.
        async with _client(server.endpoint, user=False) as again:
            await _identity(again)
        return refusals, before, after, len(variables)

    refusals, before, after, count = _run(attack())
    assert count > 20
    assert set(refusals) <= REFUSALS, sorted(set(refusals) - REFUSALS)
    assert before == after


@settings(
    max_examples=8,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(
    writes=st.lists(st.tuples(st.integers(0, 10_000), VARIANTS), min_size=1, max_size=12),
    user=st.booleans(),
)
def test_random_writes_are_refused_with_a_status_code(
    server: StatusServer, writes: list[tuple[int, ua.Variant]], user: bool
) -> None:
    async def attack() -> tuple[list[str], tuple[Any, ...], tuple[Any, ...]]:
        async with _client(server.endpoint, user=user) as client:
            before = await _identity(client)
            variables, _ = await _tree(client)
            refusals = [
                await _write_refused(variables[i % len(variables)], variant)
                for i, variant in writes
            ]
            return refusals, before, await _identity(client)

    refusals, before, after = _run(attack())
    assert set(refusals) <= REFUSALS, sorted(set(refusals) - REFUSALS)
    assert before == after


async def _call(parent: Any, method: Any, arguments: list[ua.Variant]) -> str:
    try:
        answer = await parent.call_method(method, *arguments)
    except ua.UaStatusCodeError as refused:
        return type(refused).__name__
    return f"answered {answer!r}"


@settings(
    max_examples=8,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(
    calls=st.lists(
        st.tuples(st.integers(0, 100), st.lists(VARIANTS, max_size=3)), min_size=1, max_size=6
    ),
    user=st.booleans(),
)
def test_methods_called_with_random_arguments_are_refused_when_idle(
    server: StatusServer, calls: list[tuple[int, list[ua.Variant]]], user: bool
) -> None:
    """No plan runs: Pause, Resume and Abort have nothing to act on, whatever the arguments."""

    async def attack() -> tuple[list[str], tuple[Any, ...], tuple[Any, ...], int]:
        async with _client(server.endpoint, user=user) as client:
            before = await _identity(client)
            _, methods = await _tree(client)
            answers = []
            for i, arguments in calls:
                method = methods[i % len(methods)]
                answers.append(await _call(await method.get_parent(), method, arguments))
            # A method called on an object that does not own it, and a variable called.
            variables, _ = await _tree(client)
            answers.append(await _call(variables[0], methods[0], []))
            return answers, before, await _identity(client), len(methods)

    answers, before, after, count = _run(attack())
    assert count == 4
    assert set(answers) <= REFUSALS, sorted(set(answers) - REFUSALS)
    assert before == after
    assert after[2] == "idle"


def _endless_plan(release: threading.Event) -> Any:
    """One run that checkpoints until ``release`` is set (at most 20 s)."""

    @bpp.run_decorator(md={"plan_name": "wait_for_release"})  # type: ignore[untyped-decorator]
    def inner() -> Any:
        deadline = time.monotonic() + 20
        while not release.is_set() and time.monotonic() < deadline:
            yield from bps.checkpoint()
            yield from bps.sleep(0.02)

    return (yield from inner())


def test_methods_with_arguments_are_refused_while_a_plan_runs(server: StatusServer) -> None:
    """An operator's call with arguments is refused and the plan runs on.

    The methods take no arguments; the same call without them acts (so the refusal is the
    arguments').
    """
    release = threading.Event()
    seen: dict[str, Any] = {}
    errors: list[BaseException] = []

    async def operate() -> None:
        async with _client(server.endpoint, user=True) as client:
            index = await client.get_namespace_index(NAMESPACE_URI)
            engine = client.get_node(f"ns={index};s=Lab/RunEngine")
            state = client.get_node(f"ns={index};s={STATE}")
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline:
                if await state.read_value() == "running":
                    break
                await asyncio.sleep(0.05)
            for name in ("Pause", "PauseNow", "Resume", "Abort"):
                method = client.get_node(f"ns={index};s=Lab/RunEngine/{name}")
                seen[name] = [
                    await _call(engine, method, arguments)
                    for arguments in ([NASTY_VALUES[0]], NASTY_VALUES[6:9])
                ]
            await asyncio.sleep(0.3)  # a wrongly accepted pause would show by now
            seen["state after"] = await state.read_value()
            abort = client.get_node(f"ns={index};s=Lab/RunEngine/Abort")
            seen["abort"] = await _call(engine, abort, [])

    def operator() -> None:
        try:
            asyncio.run(asyncio.wait_for(operate(), 30))
        except BaseException as error:  # reported by the test thread
            errors.append(error)
        finally:
            release.set()

    thread = threading.Thread(target=operator, name="fuzz-opcua-operator")
    thread.start()
    try:
        server.control.run(_endless_plan(release))
    finally:
        release.set()
        thread.join(35)
    assert not errors, errors
    for name in ("Pause", "PauseNow", "Resume", "Abort"):
        assert seen[name] == ["BadTooManyArguments"] * 2, (name, seen[name])
    assert seen["state after"] == "running"
    assert seen["abort"].startswith("answered")
    assert server.control.state == "idle"


# -- the environment controller's twin ------------------------------------------------------------


@pytest.fixture(scope="module")
def environment_twin(lab: Lab) -> EnvironmentTwin:
    """The glovebox's OPC UA twin the module's lab already runs."""
    twin = lab.twins["glovebox"]
    assert isinstance(twin, EnvironmentTwin)
    return twin


@settings(
    max_examples=6,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(writes=st.lists(st.tuples(st.integers(0, 100), VARIANTS), min_size=1, max_size=10))
def test_the_environment_twin_refuses_raw_writes_and_keeps_serving(
    environment_twin: EnvironmentTwin, writes: list[tuple[int, ua.Variant]]
) -> None:
    async def attack() -> tuple[list[str], list[Any]]:
        async with Client(environment_twin.address, timeout=5) as client:
            nodes = [client.get_node(node) for node, _ in environment_twin.channels.values()]
            refusals = [
                await _write_refused(nodes[i % len(nodes)], variant)
                for i, variant in [*writes, *enumerate(NASTY_VALUES)]
            ]
            return refusals, [await node.read_value() for node in nodes]

    refusals, values = _run(attack())
    assert set(refusals) <= REFUSALS, sorted(set(refusals) - REFUSALS)
    assert all(isinstance(value, float) and math.isfinite(value) for value in values)


def test_the_environment_sensor_reads_on_after_a_raw_client_wrote_nonsense(
    lab: Lab, environment_twin: EnvironmentTwin
) -> None:
    """The lab's sensor on the twin a raw client attacked still reads finite values."""

    async def attack() -> None:
        async with Client(environment_twin.address, timeout=5) as client:
            for node, _ in environment_twin.channels.values():
                for variant in NASTY_VALUES:
                    await _write_refused(client.get_node(node), variant)

    _run(attack())
    values = lab.devices["glovebox"].channel_values()
    assert values
    assert all(math.isfinite(value) for value in values.values())


# -- a hostile OPC UA server: what labctl's environment sensor parses ---------------------------

HOSTILE_VALUES: list[ua.Variant] = [
    ua.Variant(21.5, ua.VariantType.Double),
    ua.Variant(math.nan, ua.VariantType.Double),
    ua.Variant(math.inf, ua.VariantType.Double),
    ua.Variant(7, ua.VariantType.Int32),
    ua.Variant(2**63 - 1, ua.VariantType.Int64),
    ua.Variant(True, ua.VariantType.Boolean),
    ua.Variant("1.5", ua.VariantType.String),
    ua.Variant("hot", ua.VariantType.String),
    ua.Variant(b"1", ua.VariantType.ByteString),
    ua.Variant([1.0, 2.0], ua.VariantType.Double),
    ua.Variant(None, ua.VariantType.Null),
    ua.Variant(ua.LocalizedText("20"), ua.VariantType.LocalizedText),
]


@pytest.fixture(scope="module")
def hostile_server() -> Iterator[tuple[str, Server, BackgroundLoop]]:
    """A plain asyncua server a test adds variables of any type and value to."""
    loop = BackgroundLoop(name="fuzz-hostile-opcua")

    async def start() -> tuple[Server, str]:
        server = Server()
        await server.init()
        server.set_endpoint("opc.tcp://127.0.0.1:0")
        server.set_security_policy([ua.SecurityPolicyType.NoSecurity])
        await server.register_namespace("urn:labctl:fuzz")
        await server.start()
        port = server.bserver._server.sockets[0].getsockname()[1]
        return server, f"opc.tcp://127.0.0.1:{port}"

    server, address = loop.run(start(), 30)
    try:
        yield address, server, loop
    finally:
        loop.run(server.stop(), 10)
        loop.stop()


@pytest.mark.parametrize(
    "index", range(len(HOSTILE_VALUES)), ids=[f"{v.VariantType.name}" for v in HOSTILE_VALUES]
)
def test_the_environment_sensor_reads_a_number_or_refuses_what_a_server_sends(
    hostile_server: tuple[str, Server, BackgroundLoop], index: int, tmp_path: Path
) -> None:
    """Both read paths (one channel's ``get``, ``channel_values``) agree on every value."""
    address, server, loop = hostile_server
    variant = HOSTILE_VALUES[index]
    node_id = ua.NodeId(f"hostile.{index}", 2)
    loop.run(
        server.nodes.objects.add_variable(
            node_id, ua.QualifiedName(f"v{index}", 2), variant, varianttype=variant.VariantType
        ),
        5,
    )
    document = {
        "lab": {"name": "hostile"},
        "devices": {
            "sensor": {
                "kind": "environment-sensor",
                "driver": "opcua",
                "address": address,
                "timeout": "2 s",
                "options": {"channels": {"t": {"node": node_id.to_string(), "units": "degC"}}},
            }
        },
    }
    outcomes = []
    with Lab.from_config(write_config(tmp_path, document), with_store=False) as lab:
        sensor = lab.devices["sensor"]
        for read in (lambda: sensor.t.get(), lambda: sensor.channel_values()["t"]):
            try:
                outcomes.append(read())
            except ProtocolError as refused:
                assert "not a number" in str(refused)
                outcomes.append("refused")
    value = variant.Value
    number = isinstance(value, int | float) and not isinstance(value, bool)
    if number:
        assert outcomes[0] == pytest.approx(outcomes[1], nan_ok=True)
    else:
        assert outcomes == ["refused", "refused"], outcomes
