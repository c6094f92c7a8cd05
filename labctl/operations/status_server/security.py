"""Who may do what on the status server: users, permissions, trusted client certificates.

- Anonymous clients may open a session, browse, read and subscribe — nothing else.
- Configured users (name and a password from an environment variable) may also call methods;
  the methods exist only on a writable server (Pause, PauseNow, Resume, Abort).
- Nobody writes: every variable is read-only and Write requests are refused for everyone with
  ``BadUserAccessDenied``; adding or deleting nodes or references likewise.
- On a ``Basic256Sha256`` endpoint, ``trusted_clients`` pins the client certificates accepted
  when a session is created (``BadCertificateUntrusted`` for any other).
"""

from __future__ import annotations

import hmac
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from asyncua import ua
from asyncua.common.utils import ServiceError
from asyncua.crypto.permission_rules import User, UserRole
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from labctl.errors import ConfigError, ConfigIssue

__all__ = [
    "LabPermissions",
    "LabUsers",
    "TrustedClients",
    "load_certificate",
    "passwords_from_environment",
]

_READ_ONLY_REQUESTS = (
    "CreateSessionRequest",
    "CloseSessionRequest",
    "ActivateSessionRequest",
    "ReadRequest",
    "BrowseRequest",
    "BrowseNextRequest",
    "GetEndpointsRequest",
    "FindServersRequest",
    "TranslateBrowsePathsToNodeIdsRequest",
    "CreateSubscriptionRequest",
    "ModifySubscriptionRequest",
    "DeleteSubscriptionsRequest",
    "TransferSubscriptionsRequest",
    "CreateMonitoredItemsRequest",
    "ModifyMonitoredItemsRequest",
    "DeleteMonitoredItemsRequest",
    "SetMonitoringModeRequest",
    "SetPublishingModeRequest",
    "PublishRequest",
    "RepublishRequest",
    "CloseSecureChannelRequest",
    "RegisterNodesRequest",
    "UnregisterNodesRequest",
    "HistoryReadRequest",
)


def _request_ids(names: Sequence[str]) -> frozenset[Any]:
    return frozenset(
        ua.NodeId(getattr(ua.ObjectIds, f"{name}_Encoding_DefaultBinary")) for name in names
    )


class LabPermissions:
    """asyncua's permission ruleset for the status server.

    Args:
        calls_for_users: let authenticated users call methods (a writable server).
    """

    def __init__(self, *, calls_for_users: bool) -> None:
        self._read_only = _request_ids(_READ_ONLY_REQUESTS)
        self._call = _request_ids(("CallRequest",))
        self.calls_for_users = calls_for_users

    def check_validity(self, user: Any, action_type_id: Any, body: Any) -> bool:  # noqa: ARG002
        """Whether ``user`` may send a request of type ``action_type_id``."""
        if action_type_id in self._read_only:
            return True
        if action_type_id in self._call:
            role = getattr(user, "role", UserRole.Anonymous)
            return self.calls_for_users and role == UserRole.User
        return False  # Write, HistoryUpdate, AddNodes, DeleteNodes, references, ...


class LabUsers:
    """asyncua's user manager: anonymous sessions, and users with a password.

    Args:
        passwords: user name → password.
    """

    def __init__(self, passwords: Mapping[str, str]) -> None:
        self._passwords = dict(passwords)

    def get_user(
        self,
        iserver: Any,  # noqa: ARG002 — asyncua's signature
        username: str | None = None,
        password: str | None = None,
        certificate: Any = None,  # noqa: ARG002
    ) -> Any:
        """The session's user; ``None`` refuses the session (a wrong name or password)."""
        if username is None:
            return User(role=UserRole.Anonymous)
        expected = self._passwords.get(username)
        if expected is None or password is None:
            return None
        if not hmac.compare_digest(expected.encode(), str(password).encode()):
            return None
        return User(role=UserRole.User, name=username)


class TrustedClients:
    """A certificate validator accepting only the given client certificates (exact match).

    Args:
        certificates: the accepted certificates.
    """

    def __init__(self, certificates: Sequence[x509.Certificate]) -> None:
        self._accepted = {certificate.public_bytes(Encoding.DER) for certificate in certificates}

    async def __call__(self, certificate: x509.Certificate, application: Any) -> None:  # noqa: ARG002
        """Raise ``BadCertificateUntrusted`` for a certificate not in the list."""
        if certificate.public_bytes(Encoding.DER) not in self._accepted:
            raise ServiceError(ua.StatusCodes.BadCertificateUntrusted)


def load_certificate(path: Path) -> x509.Certificate:
    """Read an X.509 certificate in PEM or DER.

    Raises:
        ConfigError: the file is missing or not a certificate.
    """
    try:
        data = path.read_bytes()
    except OSError as error:
        raise ConfigError(
            path, [ConfigIssue(("status_server",), f"cannot read certificate: {error}")]
        ) from None
    try:
        if b"-----BEGIN CERTIFICATE-----" in data:
            return x509.load_pem_x509_certificate(data)
        return x509.load_der_x509_certificate(data)
    except ValueError as error:
        raise ConfigError(
            path, [ConfigIssue(("status_server",), f"not an X.509 certificate: {error}")]
        ) from None


def passwords_from_environment(
    users: Mapping[str, str], source: str | Path = "<config>"
) -> dict[str, str]:
    """User name → password, read from the environment variables the config names.

    Raises:
        ConfigError: a variable is unset or empty (every missing one is listed).
    """
    passwords: dict[str, str] = {}
    issues = []
    for name, variable in users.items():
        password = os.environ.get(variable, "")
        if not password:
            issues.append(
                ConfigIssue(
                    ("status_server", "users", name),
                    f"environment variable {variable} holds no password",
                )
            )
        passwords[name] = password
    if issues:
        raise ConfigError(source, issues)
    return passwords
