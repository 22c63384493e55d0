"""The security settings become the same connection for kit's own clients (aiokafka keyword
arguments) and for FastStream's broker; combinations that cannot work stop at start."""

import ssl
from typing import ClassVar

import pytest
import trustme
from faststream.security import BaseSecurity, SASLScram512
from pydantic import ValidationError
from pydantic_settings import SettingsConfigDict

from coaching_kit.kafka_auth import KafkaAuth, KafkaAuthError
from coaching_kit.settings import ServiceSettings


class DemoSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="DEMO_")
    service_name: ClassVar[str] = "demo"


@pytest.fixture(autouse=True)
def _no_kafka_auth_in_environment(monkeypatch):
    for name in ServiceSettings.model_fields:
        if name.startswith("kafka_"):
            monkeypatch.delenv(name.upper(), raising=False)
            monkeypatch.delenv(f"DEMO_{name.upper()}", raising=False)


@pytest.fixture(scope="module")
def pem(tmp_path_factory) -> dict[str, str]:
    """A self-signed certificate and its key, standing in for a CA and a client identity."""
    directory = tmp_path_factory.mktemp("pem")
    ca = trustme.CA()
    ca.cert_pem.write_to_path(directory / "cert.pem")
    ca.private_key_pem.write_to_path(directory / "key.pem")
    return {"cert": str(directory / "cert.pem"), "key": str(directory / "key.pem")}


def _scram(protocol: str = "SASL_PLAINTEXT", **fields: str) -> KafkaAuth:
    return KafkaAuth(protocol=protocol, username="users", password="s3cret", **fields)


def test_plaintext_changes_no_client():
    auth = KafkaAuth()
    assert auth.client_kwargs() == {}
    assert auth.security() is None


def test_sasl_scram_gives_aiokafka_the_mechanism_and_credentials():
    assert _scram().client_kwargs() == {
        "security_protocol": "SASL_PLAINTEXT",
        "sasl_mechanism": "SCRAM-SHA-512",
        "sasl_plain_username": "users",
        "sasl_plain_password": "s3cret",
    }
    security = _scram().security()
    assert isinstance(security, SASLScram512)
    assert not security.use_ssl


def test_tls_builds_a_context_that_verifies_the_broker_against_the_given_ca(pem):
    auth = KafkaAuth(protocol="SSL", cafile=pem["cert"], certfile=pem["cert"], keyfile=pem["key"])
    context = auth.client_kwargs()["ssl_context"]
    assert isinstance(context, ssl.SSLContext)
    assert (context.verify_mode, context.check_hostname) == (ssl.CERT_REQUIRED, True)
    assert context.cert_store_stats()["x509_ca"] == 1
    security = auth.security()
    assert type(security) is BaseSecurity
    assert security.use_ssl


def test_service_settings_fall_back_to_the_shared_kafka_variables(monkeypatch, pem):
    monkeypatch.setenv("KAFKA_SECURITY_PROTOCOL", "SASL_SSL")
    monkeypatch.setenv("KAFKA_SASL_USERNAME", "shared")
    monkeypatch.setenv("KAFKA_SASL_PASSWORD", "shared-secret")
    monkeypatch.setenv("KAFKA_SSL_CAFILE", pem["cert"])
    monkeypatch.setenv("DEMO_KAFKA_SASL_USERNAME", "demo")
    monkeypatch.setenv("DEMO_KAFKA_SASL_MECHANISM", "SCRAM-SHA-256")
    auth = DemoSettings().kafka_auth
    assert (auth.protocol, auth.sasl_mechanism) == ("SASL_SSL", "SCRAM-SHA-256")
    assert (auth.username, auth.password, auth.cafile) == ("demo", "shared-secret", pem["cert"])


def test_the_password_appears_in_no_repr(monkeypatch):
    monkeypatch.setenv("KAFKA_SECURITY_PROTOCOL", "SASL_PLAINTEXT")
    monkeypatch.setenv("KAFKA_SASL_USERNAME", "demo")
    monkeypatch.setenv("KAFKA_SASL_PASSWORD", "s3cret")
    settings = DemoSettings()
    assert "s3cret" not in repr(settings)
    assert "s3cret" not in repr(settings.kafka_auth)


PROTOCOL, MECHANISM, USER, PASSWORD = (
    "KAFKA_SECURITY_PROTOCOL",
    "KAFKA_SASL_MECHANISM",
    "KAFKA_SASL_USERNAME",
    "KAFKA_SASL_PASSWORD",
)
A_FILE = __file__


@pytest.mark.parametrize(
    ("env", "complaint"),
    [
        ({PROTOCOL: "SASL_SSL"}, "needs KAFKA_SASL_USERNAME"),
        ({PROTOCOL: "SASL_PLAINTEXT", USER: "demo"}, "needs KAFKA_SASL_USERNAME and KAFKA_SASL_"),
        ({USER: "demo", PASSWORD: "s3cret"}, "PLAINTEXT does not authenticate"),
        ({"KAFKA_SSL_CAFILE": A_FILE}, "PLAINTEXT uses no TLS"),
        ({PROTOCOL: "SSL", "KAFKA_SSL_KEYFILE": A_FILE}, "KEYFILE needs KAFKA_SSL_CERTFILE"),
        ({PROTOCOL: "SSL", "KAFKA_SSL_CAFILE": "/nonexistent/ca.pem"}, "no such file"),
        ({PROTOCOL: "SASL"}, "'SASL_PLAINTEXT'"),
        ({PROTOCOL: "SASL_SSL", MECHANISM: "GSSAPI", USER: "u", PASSWORD: "p"}, "'SCRAM-SHA-512'"),
    ],
)
def test_settings_that_cannot_work_fail_when_read_and_say_why(monkeypatch, env, complaint):
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(ValidationError) as raised:
        DemoSettings()
    assert complaint in str(raised.value)


def test_an_error_never_echoes_the_password(monkeypatch):
    monkeypatch.setenv(PROTOCOL, "SASL_SSL")
    monkeypatch.setenv(PASSWORD, "never-shown")
    with pytest.raises(ValidationError) as raised:
        DemoSettings()
    assert "needs KAFKA_SASL_USERNAME" in str(raised.value)
    assert "never-shown" not in str(raised.value)


def test_kafka_auth_checks_itself_outside_settings_too():
    with pytest.raises(KafkaAuthError, match="needs KAFKA_SASL_USERNAME"):
        KafkaAuth(protocol="SASL_PLAINTEXT")


def test_tls_without_a_ca_file_trusts_the_systems_cas():
    context = KafkaAuth(protocol="SSL").ssl_context()
    assert context is not None
    assert context.verify_mode == ssl.CERT_REQUIRED


def test_no_tls_no_context():
    assert _scram().ssl_context() is None
