"""How every Kafka client of the platform authenticates (docs/deploying.md "Kafka
authentication"): `security()` is FastStream's object for `KafkaBroker`, `client_kwargs()` the
same as aiokafka's arguments, for the clients kit creates itself (relay, admin clients, the
stats rebuild's consumers, the test bus), so no client can end up connecting differently.
"""

from __future__ import annotations

import ssl
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from aiokafka.helpers import create_ssl_context
from faststream.kafka.security import parse_security
from faststream.security import BaseSecurity, SASLPlaintext, SASLScram256, SASLScram512

SecurityProtocol = Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"]
SaslMechanism = Literal["SCRAM-SHA-256", "SCRAM-SHA-512", "PLAIN"]

_FASTSTREAM_SASL: dict[str, type[SASLPlaintext | SASLScram256 | SASLScram512]] = {
    "PLAIN": SASLPlaintext,
    "SCRAM-SHA-256": SASLScram256,
    "SCRAM-SHA-512": SASLScram512,
}


class KafkaAuthError(ValueError):
    """Security settings that cannot work together; raised when the settings are read, so a
    misconfigured service stops at start instead of retrying a connection forever."""


@dataclass(frozen=True)
class KafkaAuth:
    """The security settings, checked; empty strings mean "not set"."""

    protocol: SecurityProtocol = "PLAINTEXT"
    sasl_mechanism: SaslMechanism = "SCRAM-SHA-512"
    username: str = ""
    password: str = field(default="", repr=False)
    cafile: str = ""  # empty with TLS: the system's trusted CAs
    certfile: str = ""  # a client certificate, for brokers that require one (mutual TLS)
    keyfile: str = ""  # its private key, unless certfile holds it too

    def __post_init__(self) -> None:
        problems = list(self._problems())
        if problems:
            raise KafkaAuthError("; ".join(problems))

    @property
    def uses_sasl(self) -> bool:
        return self.protocol in ("SASL_PLAINTEXT", "SASL_SSL")

    @property
    def uses_tls(self) -> bool:
        return self.protocol in ("SSL", "SASL_SSL")

    def _problems(self) -> Iterator[str]:
        if self.uses_sasl and not (self.username and self.password):
            yield (
                f"KAFKA_SECURITY_PROTOCOL={self.protocol} needs KAFKA_SASL_USERNAME and "
                "KAFKA_SASL_PASSWORD"
            )
        if not self.uses_sasl and (self.username or self.password):
            # Credentials that would silently go unused are a forgotten protocol, not a choice.
            yield (
                "KAFKA_SASL_USERNAME/PASSWORD are set but KAFKA_SECURITY_PROTOCOL="
                f"{self.protocol} does not authenticate: use SASL_PLAINTEXT or SASL_SSL"
            )
        files = {"CAFILE": self.cafile, "CERTFILE": self.certfile, "KEYFILE": self.keyfile}
        if not self.uses_tls and any(files.values()):
            yield (
                f"KAFKA_SSL_* files are set but KAFKA_SECURITY_PROTOCOL={self.protocol} "
                "uses no TLS: use SSL or SASL_SSL"
            )
        if self.keyfile and not self.certfile:
            yield "KAFKA_SSL_KEYFILE needs KAFKA_SSL_CERTFILE (the certificate of that key)"
        for name, path in files.items():
            if path and not Path(path).is_file():
                yield f"KAFKA_SSL_{name}: no such file {path}"

    def ssl_context(self) -> ssl.SSLContext | None:
        if not self.uses_tls:
            return None
        # aiokafka's helper always checks the broker's host name against its certificate.
        context: ssl.SSLContext = create_ssl_context(
            cafile=self.cafile or None, certfile=self.certfile or None, keyfile=self.keyfile or None
        )
        return context

    def client_kwargs(self) -> dict[str, Any]:
        """Keyword arguments for AIOKafkaProducer, AIOKafkaConsumer and AIOKafkaAdminClient, as
        KafkaBroker derives them from `security()`; none for PLAINTEXT."""
        return {k: v for k, v in parse_security(self.security()).items() if v is not None}

    def security(self) -> BaseSecurity | None:
        """FastStream's security object for KafkaBroker(security=...); None for PLAINTEXT."""
        if self.protocol == "PLAINTEXT":
            return None
        context = self.ssl_context()
        if not self.uses_sasl:
            return BaseSecurity(ssl_context=context)  # a context means SSL to FastStream
        sasl = _FASTSTREAM_SASL[self.sasl_mechanism]
        return sasl(self.username, self.password, ssl_context=context, use_ssl=self.uses_tls)
