"""The broker's authenticated listeners: SASL/SCRAM over plain TCP on KAFKA_PORT+2, and TLS
with client certificates on KAFKA_PORT+3, signed by the stack's own CA. The broker itself,
and every client that does not ask for them, stays on PLAINTEXT."""

from __future__ import annotations

import trustme
from cryptography.hazmat.primitives import serialization

from coaching_devstack import kafka
from coaching_devstack.config import SCRAM_MECHANISM, SCRAM_PASSWORD, SCRAM_USER, Config
from coaching_kit.kafka_auth import KafkaAuth

CERTIFICATE_FILES = ("ca.pem", "broker.pem", "client.pem", "client.key")


def make_certificates(cfg: Config) -> None:
    """The stack's own CA, and the broker's and a client's certificate signed by it, both for
    127.0.0.1 and localhost (clients check the broker's name against its certificate); made
    once (`reset` deletes them with the data)."""
    tls = cfg.tls_dir
    if all((tls / name).exists() for name in CERTIFICATE_FILES):
        return
    tls.mkdir(parents=True, exist_ok=True, mode=0o700)
    ca = trustme.CA(organization_name="coaching local stack")
    ca.cert_pem.write_to_path(tls / "ca.pem")
    broker = ca.issue_cert("127.0.0.1", "localhost", common_name="localhost")
    # Kafka's PEM keystore is the key and its certificate in one file, the key in PKCS#8:
    # Kafka refuses the "EC PRIVATE KEY" (SEC1) form trustme writes.
    key = serialization.load_pem_private_key(broker.private_key_pem.bytes(), password=None)
    pkcs8 = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    (tls / "broker.pem").write_bytes(pkcs8 + broker.cert_chain_pems[0].bytes())
    client = ca.issue_cert("127.0.0.1", "localhost", common_name="coaching-client")
    client.private_key_pem.write_to_path(tls / "client.key")
    client.cert_chain_pems[0].write_to_path(tls / "client.pem")


def listener_env(cfg: Config) -> dict[str, str]:
    """Where and as whom clients that authenticate connect. Not the services' own setting
    names, so that `eval $(python -m coaching_devstack env)` leaves every client on PLAINTEXT."""
    return {
        "STACK_KAFKA_SCRAM_BOOTSTRAP": f"127.0.0.1:{cfg.sasl_port}",
        "STACK_KAFKA_SCRAM_MECHANISM": SCRAM_MECHANISM,
        "STACK_KAFKA_SCRAM_USERNAME": SCRAM_USER,
        "STACK_KAFKA_SCRAM_PASSWORD": SCRAM_PASSWORD,
        "STACK_KAFKA_TLS_BOOTSTRAP": f"127.0.0.1:{cfg.tls_port}",
        "STACK_KAFKA_TLS_CAFILE": str(cfg.tls_dir / "ca.pem"),
        "STACK_KAFKA_TLS_CERTFILE": str(cfg.tls_dir / "client.pem"),
        "STACK_KAFKA_TLS_KEYFILE": str(cfg.tls_dir / "client.key"),
    }


def listeners_line(cfg: Config) -> str:
    return f"kafka: SASL/SCRAM at 127.0.0.1:{cfg.sasl_port}, TLS at 127.0.0.1:{cfg.tls_port}"


def auth_listeners_on(cfg: Config) -> bool:
    """Whether our broker runs (or will run) with the SASL and TLS listeners."""
    return not cfg.external_kafka and kafka.runs_with(cfg, kafka.properties_text(cfg))


async def ensure_auth_listeners(cfg: Config) -> None:
    """Both listeners let the stack's own clients in (formatting the storage added the SCRAM
    user)."""
    env = listener_env(cfg)
    scram_at, tls_at = env["STACK_KAFKA_SCRAM_BOOTSTRAP"], env["STACK_KAFKA_TLS_BOOTSTRAP"]
    scram = KafkaAuth(
        protocol="SASL_PLAINTEXT",
        sasl_mechanism=SCRAM_MECHANISM,
        username=SCRAM_USER,
        password=SCRAM_PASSWORD,
    )
    mutual_tls = KafkaAuth(
        protocol="SSL",
        cafile=env["STACK_KAFKA_TLS_CAFILE"],
        certfile=env["STACK_KAFKA_TLS_CERTFILE"],
        keyfile=env["STACK_KAFKA_TLS_KEYFILE"],
    )
    await kafka.wait_ready(cfg, scram_at, scram)
    await kafka.wait_ready(cfg, tls_at, mutual_tls)
