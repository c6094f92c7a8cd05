"""The OPC UA status server, read by a plain asyncua client on loopback.

A real lab (glovebox and potentiostat on their twins) is served; the client browses the LADS-like
tree, reads device values and a toy campaign's progress, is refused when it writes or calls
anonymously, pauses/resumes/aborts a running plan as an authenticated user on a writable server,
and connects to a Basic256Sha256 endpoint with a trusted certificate only.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import datetime
import ipaddress
import math
import threading
import time
from collections.abc import Callable, Coroutine, Iterator
from pathlib import Path
from typing import Any

import bluesky.plan_stubs as bps
import bluesky.preprocessors as bpp
import pytest
from asyncua import Client, ua
from asyncua.crypto.security_policies import SecurityPolicyBasic256Sha256
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from pydantic import ValidationError
from typer.testing import CliRunner

from labctl.campaign.runner import best_values, run_campaign
from labctl.cli import app
from labctl.config import StatusServerSection, load_config, parse_config
from labctl.errors import ConfigError
from labctl.lab.session import Lab
from labctl.operations.status_server import APPLICATION_URI, NAMESPACE_URI, StatusServer
from labctl.testing.configs import sim_lab_document, write_config
from labctl.testing.store import prepare_store
from labctl.testing.toy_registry import registered

CAMPAIGN = {
    "name": "toy",
    "experiment": "toy-gaussian",
    "space": {"position": {"low": -1, "high": 1}},
    "objectives": {"signal": {"direction": "maximize"}},
    "optimizer": {"kind": "toy-random", "seed": 5},
    "budget": {"experiments": 3},
}
PASSWORD_VARIABLE = "LABCTL_TEST_OPCUA_PASSWORD"
GLOVEBOX_O2 = "Lab/DeviceSet/glovebox/FunctionalUnitSet/glovebox/FunctionSet/o2"
CAMPAIGN_NODE = "Lab/RunEngine/ProgramManager/ActiveProgram"
STATE = "Lab/RunEngine/FunctionalUnitState/CurrentState"


def _lab_document(devices: tuple[str, ...], **sections: Any) -> dict[str, Any]:
    document = copy.deepcopy(sim_lab_document())
    document["devices"] = {
        name: spec for name, spec in document["devices"].items() if name in devices
    }
    document.update(copy.deepcopy(sections))
    return document


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    """Glovebox and potentiostat on their twins, a store, and the toy campaign's config."""
    directory = tmp_path_factory.mktemp("status-lab")
    prepare_store(directory / "data" / "tiled")
    document = _lab_document(("glovebox", "potentiostat"), campaign=CAMPAIGN)
    # The toy campaign kinds (as the toy_kinds fixture gives), for the module's shared lab.
    with registered(), Lab.from_config(write_config(directory, document)) as running:
        yield running


@pytest.fixture(scope="module")
def server(lab: Lab) -> Iterator[StatusServer]:
    """The lab's read-only status server on a free loopback port."""
    with StatusServer(lab, StatusServerSection(port=0, period="0.2 s")) as serving:
        yield serving


@pytest.fixture(scope="module", autouse=True)
def _no_status_server_thread_left() -> Iterator[None]:
    """Every server of this module, the shared ones included, ends all its threads."""
    yield
    deadline = time.monotonic() + 5
    names = ["?"]
    while names and time.monotonic() < deadline:
        names = [t.name for t in threading.enumerate() if t.name.startswith("status-server-")]
        time.sleep(0.05)
    assert not names, f"status server threads left running: {names}"


def _run(coroutine: Coroutine[Any, Any, Any]) -> Any:
    return asyncio.run(asyncio.wait_for(coroutine, 20))


async def _node(client: Client, path: str) -> Any:
    index = await client.get_namespace_index(NAMESPACE_URI)
    return client.get_node(f"ns={index};s={path}")


async def _value(client: Client, path: str) -> Any:
    return await (await _node(client, path)).read_value()


async def _eventually(
    client: Client, path: str, accept: Callable[[Any], bool], within: float = 5.0
) -> Any:
    """The value at ``path`` once ``accept`` likes it (or the last one after ``within`` s)."""
    deadline = time.monotonic() + within
    while True:
        value = await _value(client, path)
        if accept(value) or time.monotonic() > deadline:
            return value
        await asyncio.sleep(0.05)


async def _children(client: Client, path: str) -> list[str]:
    node = await _node(client, path)
    return [(await child.read_browse_name()).Name for child in await node.get_children()]


def test_the_tree_is_organised_like_lads(server: StatusServer) -> None:
    async def browse() -> dict[str, list[str]]:
        async with Client(server.endpoint, timeout=5) as client:
            paths = [
                "Lab",
                "Lab/DeviceSet",
                "Lab/DeviceSet/glovebox/FunctionalUnitSet/glovebox/FunctionSet",
                "Lab/DeviceSet/potentiostat/FunctionalUnitSet/potentiostat/FunctionSet",
                "Lab/RunEngine",
                CAMPAIGN_NODE,
                "Lab/Alarms",
            ]
            return {path: await _children(client, path) for path in paths}

    tree = _run(browse())
    assert {"Identification", "DeviceSet", "RunEngine", "Alarms"} <= set(tree["Lab"])
    assert tree["Lab/DeviceSet"] == ["glovebox", "potentiostat"]
    assert tree["Lab/DeviceSet/glovebox/FunctionalUnitSet/glovebox/FunctionSet"] == [
        "o2",
        "h2o",
        "temperature",
        "pressure",
    ]
    # The potentiostat shows its cached state and summary scalars, never its arrays.
    functions = set(tree["Lab/DeviceSet/potentiostat/FunctionalUnitSet/potentiostat/FunctionSet"])
    assert {"technique", "final_potential", "charge", "completed", "interlock"} <= functions
    assert not functions & {"time", "current", "potential", "z_real"}
    # Read-only server: the RunEngine has no methods.
    assert not {"Pause", "Resume", "Abort"} & set(tree["Lab/RunEngine"])
    assert {"CampaignId", "ExperimentsDone", "ExperimentBudget", "LastResult", "BestSoFar"} <= set(
        tree[CAMPAIGN_NODE]
    )
    assert {"glovebox_o2", "glovebox_h2o", "glovebox_temperature", "ActiveCount"} <= set(
        tree["Lab/Alarms"]
    )


def test_device_values_and_identification_are_read(server: StatusServer, lab: Lab) -> None:
    async def read() -> dict[str, Any]:
        async with Client(server.endpoint, timeout=5) as client:
            return {
                "o2": await _eventually(client, f"{GLOVEBOX_O2}/SensorValue", math.isfinite),
                "units": await _value(client, f"{GLOVEBOX_O2}/Units"),
                "temperature": await _value(
                    client,
                    "Lab/DeviceSet/glovebox/FunctionalUnitSet/glovebox/FunctionSet/temperature"
                    "/SensorValue",
                ),
                "state": await _value(client, "Lab/DeviceSet/glovebox/DeviceState"),
                "kind": await _value(client, "Lab/DeviceSet/potentiostat/Kind"),
                "name": await _value(client, "Lab/Identification/Name"),
                "high": await _value(client, "Lab/Alarms/glovebox_o2/High"),
                "alarms": await _value(client, "Lab/Alarms/ActiveCount"),
                "engine": await _value(client, STATE),
            }

    values = _run(read())
    assert 0.3 < values["o2"] < 0.9  # the twin's O2 sits at 0.6 ± 0.05 ppm
    assert values["units"] == "ppm"
    assert 290 < values["temperature"] < 305  # recorded in kelvin
    assert values["state"] == "Online"
    assert values["kind"] == "potentiostat"
    assert values["name"] == lab.name
    assert values["high"] == pytest.approx(1.0)
    assert values["alarms"] == 0
    assert values["engine"] == "idle"


def test_campaign_progress_last_result_and_best_so_far(server: StatusServer, lab: Lab) -> None:
    result = run_campaign(lab.config, lab=lab, on_record=server.on_record)
    best = best_values(result.state, {"signal": "maximize"})
    last = result.state.records[-1]

    async def read() -> dict[str, Any]:
        async with Client(server.endpoint, timeout=5) as client:
            await _eventually(client, f"{CAMPAIGN_NODE}/Status", lambda status: status == "ended")
            names = ("CampaignId", "ExperimentsDone", "ExperimentBudget", "Status")
            values = {name: await _value(client, f"{CAMPAIGN_NODE}/{name}") for name in names}
            values["best"] = await _value(client, f"{CAMPAIGN_NODE}/BestSoFar/signal")
            values["last"] = await _value(client, f"{CAMPAIGN_NODE}/LastResult/signal")
            values["iteration"] = await _value(client, f"{CAMPAIGN_NODE}/LastResult/Iteration")
            values["runs"] = await _value(client, "Lab/RunEngine/RunsStarted")
            values["exit"] = await _value(client, "Lab/RunEngine/LastExitStatus")
            return values

    values = _run(read())
    assert values["CampaignId"] == result.campaign_id
    assert values["ExperimentsDone"] == 3
    assert values["ExperimentBudget"] == 3
    assert values["Status"] == "ended"
    assert values["best"] == pytest.approx(best["signal"])
    assert last.outcome is not None
    assert values["last"] == pytest.approx(last.outcome["signal"])
    assert values["iteration"] == last.iteration
    assert values["runs"] >= 3
    assert values["exit"] == "success"


def test_anonymous_writes_are_refused(server: StatusServer) -> None:
    async def write() -> tuple[list[str], float, float]:
        async with Client(server.endpoint, timeout=5) as client:
            refusals = []
            node = await _node(client, f"{GLOVEBOX_O2}/SensorValue")
            before = await node.read_value()
            for path, variant in (
                (f"{GLOVEBOX_O2}/SensorValue", ua.Variant(1000.0, ua.VariantType.Double)),
                ("Lab/Identification/Name", ua.Variant("hacked", ua.VariantType.String)),
                (STATE, ua.Variant("idle", ua.VariantType.String)),
            ):
                target = await _node(client, path)
                with pytest.raises(ua.UaStatusCodeError) as refused:
                    await target.write_value(ua.DataValue(variant))
                refusals.append(type(refused.value).__name__)
            after = await node.read_value()
            return refusals, before, after

    refusals, before, after = _run(write())
    assert set(refusals) <= {"BadUserAccessDenied", "BadNotWritable"}
    assert after != 1000.0
    assert math.isfinite(before)


@pytest.fixture
def writable(lab: Lab, monkeypatch: pytest.MonkeyPatch) -> Iterator[StatusServer]:
    """A writable server on the same lab: user ``operator`` with a password from the env."""
    monkeypatch.setenv(PASSWORD_VARIABLE, "s3cret-glovebox")
    options = StatusServerSection(
        port=0, writable=True, users={"operator": PASSWORD_VARIABLE}, period="0.2 s"
    )
    with StatusServer(lab, options) as serving:
        yield serving


def _endless_plan(release: threading.Event) -> Any:
    """One run that keeps checkpointing until ``release`` is set (at most 20 s)."""

    @bpp.run_decorator(md={"plan_name": "wait_for_release"})  # type: ignore[untyped-decorator]
    def inner() -> Any:
        deadline = time.monotonic() + 20
        while not release.is_set() and time.monotonic() < deadline:
            yield from bps.checkpoint()
            yield from bps.sleep(0.02)

    return (yield from inner())


def test_anonymous_method_calls_are_refused_and_a_wrong_password_too(
    writable: StatusServer,
) -> None:
    async def call() -> tuple[str, str]:
        async with Client(writable.endpoint, timeout=5) as client:
            engine = await _node(client, "Lab/RunEngine")
            pause = await _node(client, "Lab/RunEngine/Pause")
            with pytest.raises(ua.UaStatusCodeError) as anonymous:
                await engine.call_method(pause)
        intruder = Client(writable.endpoint, timeout=5)
        intruder.set_user("operator")
        intruder.set_password("wrong")
        with pytest.raises(ua.UaStatusCodeError) as wrong:
            await intruder.connect()
        await _quietly_disconnect(intruder)
        return type(anonymous.value).__name__, type(wrong.value).__name__

    anonymous, wrong = _run(call())
    assert anonymous == "BadUserAccessDenied"
    assert wrong in {"BadUserAccessDenied", "BadIdentityTokenRejected"}


async def _quietly_disconnect(client: Client) -> None:
    # A client whose session was refused has little to close.
    with contextlib.suppress(Exception):
        await asyncio.wait_for(client.disconnect(), 2)


def test_an_authenticated_user_pauses_resumes_and_aborts_the_running_plan(
    writable: StatusServer, lab: Lab
) -> None:
    release = threading.Event()
    seen: dict[str, Any] = {}
    errors: list[BaseException] = []
    documents: list[tuple[str, dict[str, Any]]] = []

    async def operate() -> None:
        client = Client(writable.endpoint, timeout=5)
        client.set_user("operator")
        client.set_password("s3cret-glovebox")
        async with client:
            engine = await _node(client, "Lab/RunEngine")

            async def call(method: str) -> str:
                result = await engine.call_method(await _node(client, f"Lab/RunEngine/{method}"))
                return str(result)

            seen["running"] = await _eventually(client, STATE, lambda s: s == "running")
            seen["pause"] = await call("Pause")
            seen["paused"] = await _eventually(client, STATE, lambda s: s == "paused")
            with pytest.raises(ua.UaStatusCodeError) as again:
                await call("Pause")  # nothing to pause now
            seen["pause again"] = type(again.value).__name__
            seen["resume"] = await call("Resume")
            seen["resumed"] = await _eventually(client, STATE, lambda s: s == "running")
            await call("PauseNow")
            seen["paused now"] = await _eventually(client, STATE, lambda s: s == "paused")
            seen["abort"] = await call("Abort")
            seen["ended"] = await _eventually(client, STATE, lambda s: s == "idle")

    def operator() -> None:
        try:
            asyncio.run(asyncio.wait_for(operate(), 20))
        except BaseException as error:  # reported by the test thread
            errors.append(error)
        finally:
            release.set()

    token = lab.RE.subscribe(lambda name, doc: documents.append((name, doc)))  # type: ignore[no-untyped-call]
    thread = threading.Thread(target=operator, name="opcua-test-operator")
    thread.start()
    try:
        writable.control.run(_endless_plan(release))
    finally:
        release.set()
        thread.join(25)
        lab.RE.unsubscribe(token)  # type: ignore[no-untyped-call]
    assert not errors, errors
    assert seen["running"] == "running"
    assert seen["paused"] == "paused"
    assert seen["pause again"] == "BadInvalidState"
    assert seen["resumed"] == "running"
    assert seen["paused now"] == "paused"
    assert seen["ended"] == "idle"
    stops = [doc for name, doc in documents if name == "stop"]
    assert len(stops) == 1
    assert stops[0]["exit_status"] == "abort"
    assert lab.RE.state == "idle"


# ----- encryption -------------------------------------------------------------------------------


def _certificate(directory: Path, name: str, uri: str, *, server: bool) -> tuple[Path, Path]:
    """A self-signed RSA-2048 certificate for an OPC UA application, and its key (PEM)."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = datetime.datetime.now(datetime.UTC)
    usage = ExtendedKeyUsageOID.SERVER_AUTH if server else ExtendedKeyUsageOID.CLIENT_AUTH
    certificate = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName(
                [
                    x509.UniformResourceIdentifier(uri),
                    x509.DNSName("localhost"),
                    x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
                ]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=True,
                key_encipherment=True,
                data_encipherment=True,
                key_agreement=False,
                key_cert_sign=False,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
        .sign(key, hashes.SHA256())
    )
    certificate_path = directory / f"{name}.pem"
    key_path = directory / f"{name}-key.pem"
    certificate_path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.TraditionalOpenSSL,
            serialization.NoEncryption(),
        )
    )
    return certificate_path, key_path


CLIENT_URI = "urn:labctl:test-client"


async def _secure_read(
    endpoint: str, certificate: Path, key: Path, server_certificate: Path
) -> str:
    client = Client(endpoint, timeout=5)
    client.application_uri = CLIENT_URI
    await client.set_security(
        SecurityPolicyBasic256Sha256,
        certificate=str(certificate),
        private_key=str(key),
        server_certificate=str(server_certificate),
        mode=ua.MessageSecurityMode.SignAndEncrypt,
    )
    try:
        await client.connect()
        return str(await _value(client, "Lab/Identification/Name"))
    finally:
        await _quietly_disconnect(client)


def test_an_encrypted_endpoint_accepts_only_a_trusted_client_certificate(
    lab: Lab, tmp_path: Path
) -> None:
    server_certificate, server_key = _certificate(tmp_path, "server", APPLICATION_URI, server=True)
    client_certificate, client_key = _certificate(tmp_path, "client", CLIENT_URI, server=False)
    stranger_certificate, stranger_key = _certificate(
        tmp_path, "stranger", CLIENT_URI, server=False
    )
    options = StatusServerSection(
        port=0,
        security="Basic256Sha256",
        certificate=Path("server.pem"),  # relative to base_directory
        private_key=server_key,
        trusted_clients=[client_certificate],
    )
    with StatusServer(lab, options, base_directory=tmp_path) as secure:

        async def attempts() -> tuple[str, str, str]:
            name = await _secure_read(
                secure.endpoint, client_certificate, client_key, server_certificate
            )
            with pytest.raises(ua.UaStatusCodeError) as untrusted:
                await _secure_read(
                    secure.endpoint, stranger_certificate, stranger_key, server_certificate
                )
            plain = Client(secure.endpoint, timeout=3)
            with pytest.raises(Exception) as unencrypted:  # noqa: PT011 — any refusal will do
                await plain.connect()
            await _quietly_disconnect(plain)
            return name, type(untrusted.value).__name__, type(unencrypted.value).__name__

        name, untrusted, unencrypted = _run(attempts())
    assert name == lab.name
    assert untrusted == "BadCertificateUntrusted"
    assert unencrypted  # refused: the server offers no unencrypted endpoint


# ----- alarms, config, command line -----------------------------------------------------------


def test_an_excursion_raises_an_alarm_and_a_dead_sensor_a_fault(tmp_path: Path) -> None:
    """Without safety suspenders the server reads the glovebox itself (channel_values())."""
    document = _lab_document(("glovebox",), safety={"environment_suspenders": False})
    path = write_config(tmp_path, document)
    with (
        Lab.from_config(path, with_store=False) as small,
        StatusServer(small, StatusServerSection(port=0, period="0.1 s")) as serving,
    ):
        twin = small.twins["glovebox"]

        async def watch() -> dict[str, Any]:
            async with Client(serving.endpoint, timeout=5) as client:
                values: dict[str, Any] = {}
                twin.model.set_excursion("o2", 25.0)
                values["active"] = await _eventually(
                    client, "Lab/Alarms/glovebox_o2/Active", lambda active: active
                )
                values["count"] = await _value(client, "Lab/Alarms/ActiveCount")
                values["message"] = await _value(client, "Lab/Alarms/glovebox_o2/Message")
                twin.model.set_excursion("o2", None)
                values["cleared"] = await _eventually(
                    client, "Lab/Alarms/glovebox_o2/Active", lambda active: not active
                )
                twin.stop()
                values["fault"] = await _eventually(
                    client, "Lab/DeviceSet/glovebox/DeviceState", lambda s: s == "Fault", 10
                )
                values["unreadable"] = await _value(
                    client, "Lab/Alarms/glovebox_unreadable/Active"
                )
                values["error"] = await _value(client, "Lab/DeviceSet/glovebox/LastError")
                return values

        values = _run(watch())
    assert values["active"] is True
    assert values["count"] >= 1
    assert "above its ceiling 1" in values["message"]
    assert values["cleared"] is False
    assert values["fault"] == "Fault"
    assert values["unreadable"] is True
    assert "glovebox" in values["error"]


@pytest.mark.parametrize(
    ("section", "message"),
    [
        ({"security": "Basic256Sha256"}, "needs 'certificate' and 'private_key'"),
        ({"writable": True}, "needs at least one entry in 'users'"),
        ({"users": {"ops": "not a variable"}}, "not an environment variable name"),
        (
            {"writable": True, "host": "0.0.0.0", "users": {"ops": "OPS_PASSWORD"}},
            "needs 'security: Basic256Sha256'",
        ),
        ({"trusted_clients": ["a.pem"]}, "only checked with 'Basic256Sha256'"),
        ({"colour": "blue"}, "Extra inputs are not permitted"),
        ({"period": "0 s"}, "period must be positive"),
    ],
)
def test_status_server_config_refuses_unsafe_or_unknown_settings(
    section: dict[str, Any], message: str
) -> None:
    with pytest.raises(ValidationError, match=message):
        StatusServerSection.model_validate(section)


def test_the_section_parses_from_yaml_and_passwords_come_from_the_environment(
    lab: Lab, monkeypatch: pytest.MonkeyPatch
) -> None:
    loaded = parse_config(
        "lab: {name: x}\n"
        "status_server: {port: 4841, writable: true, users: {ops: OPS_PASSWORD_FOR_TEST}}\n"
    )
    section = loaded.model.status_server
    assert section is not None
    assert (section.host, section.port, section.writable) == ("127.0.0.1", 4841, True)
    monkeypatch.delenv("OPS_PASSWORD_FOR_TEST", raising=False)
    with pytest.raises(ConfigError, match="OPS_PASSWORD_FOR_TEST holds no password"):
        StatusServer(lab, section)


def test_opcua_serve_runs_the_campaign_while_serving(tmp_path: Path) -> None:
    prepare_store(tmp_path / "data" / "tiled")
    path = write_config(tmp_path, _lab_document(("glovebox",), campaign=CAMPAIGN))
    with registered():
        result = CliRunner().invoke(
            app, ["opcua", "serve", str(path), "--port", "0", "--duration", "0", "--campaign"]
        )
    assert result.exit_code == 0, result.output
    text = " ".join(result.output.split())
    assert "OPC UA status server of sim-lab at opc.tcp://127.0.0.1:" in text
    assert "read-only" in text
    assert "ended: 3 experiments" in text


def test_opcua_serve_names_a_missing_password_variable(tmp_path: Path) -> None:
    document = _lab_document(
        ("glovebox",),
        status_server={"writable": True, "users": {"ops": "LABCTL_NO_SUCH_PASSWORD_VAR"}},
    )
    result = CliRunner().invoke(app, ["opcua", "serve", str(write_config(tmp_path, document))])
    assert result.exit_code == 2
    assert "LABCTL_NO_SUCH_PASSWORD_VAR" in " ".join(result.output.split())


def test_load_config_keeps_the_status_server_section(tmp_path: Path) -> None:
    document = _lab_document(("glovebox",), status_server={"port": 0, "period": "500 ms"})
    loaded = load_config(write_config(tmp_path, document))
    assert loaded.model.status_server is not None
    assert loaded.model.status_server.period.to("s").magnitude == pytest.approx(0.5)
