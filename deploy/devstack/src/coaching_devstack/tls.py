"""The broker's authenticated listeners: SASL/SCRAM over plain TCP on KAFKA_PORT+2, and TLS
with client certificates on KAFKA_PORT+3, signed by the stack's own CA. The broker itself,
and every client that does not ask for them, stays on PLAINTEXT."""

from __future__ import annotations

import asyncio
import time
import uuid
from pathlib import Path

from coaching_devstack import kafka
from coaching_devstack.config import SCRAM_MECHANISM, SCRAM_PASSWORD, SCRAM_USER, Config, StackError
from coaching_devstack.processes import log_tail, run, say
from coaching_kit.kafka_auth import KafkaAuth
from coaching_kit.kafka_probe import probe_kafka

# The CA may sign certificates; the others serve the broker and identify the client, both for
# 127.0.0.1 and localhost (clients check the broker's name against its certificate).
_CERT_EXTENSIONS = """\
[ca]
basicConstraints = critical, CA:TRUE
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash
[leaf]
basicConstraints = CA:FALSE
keyUsage = critical, digitalSignature, keyEncipherment
extendedKeyUsage = serverAuth, clientAuth
subjectAltName = IP:127.0.0.1, DNS:localhost
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
"""
_NEW_EC_KEY = ("-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes")


def _openssl(tls: Path, *args: str) -> None:
    run(["openssl", *args], "openssl", cwd=tls)


def make_certificates(cfg: Config) -> None:
    """The stack's own CA, and the broker's and a client's certificate signed by it, made once
    (`reset` deletes them with the data)."""
    tls = cfg.tls_dir
    if all((tls / name).exists() for name in ("ca.pem", "broker.pem", "client.pem")):
        return
    tls.mkdir(parents=True, exist_ok=True)
    (tls / "extensions.cnf").write_text(_CERT_EXTENSIONS)
    _openssl(tls, "req", "-x509", *_NEW_EC_KEY, "-keyout", "ca.key", "-out", "ca.pem",
             "-days", "3650", "-subj", "/CN=coaching local stack CA",
             "-addext", "basicConstraints=critical,CA:TRUE",
             "-addext", "keyUsage=critical,keyCertSign,cRLSign")  # fmt: skip
    for name, subject in (("broker", "/CN=localhost"), ("client", "/CN=coaching-client")):
        _openssl(tls, "req", *_NEW_EC_KEY, "-keyout", f"{name}.key", "-out", f"{name}.csr",
                 "-subj", subject)  # fmt: skip
        _openssl(tls, "x509", "-req", "-in", f"{name}.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
                 "-set_serial", str(uuid.uuid4().int >> 64), "-days", "3650",
                 "-extfile", "extensions.cnf", "-extensions", "leaf",
                 "-out", f"{name}.crt")  # fmt: skip
    # Kafka's PEM keystore is the key and its certificate in one file.
    (tls / "broker.pem").write_text(
        (tls / "broker.key").read_text() + (tls / "broker.crt").read_text()
    )
    (tls / "client.crt").rename(tls / "client.pem")


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


Client = tuple[str, KafkaAuth]  # bootstrap servers, and how to authenticate there


def scram_client(cfg: Config) -> Client:
    auth = KafkaAuth(
        protocol="SASL_PLAINTEXT",
        sasl_mechanism=SCRAM_MECHANISM,
        username=SCRAM_USER,
        password=SCRAM_PASSWORD,
    )
    return f"127.0.0.1:{cfg.sasl_port}", auth


def tls_client(cfg: Config) -> Client:
    tls = cfg.tls_dir
    auth = KafkaAuth(
        protocol="SSL",
        cafile=str(tls / "ca.pem"),
        certfile=str(tls / "client.pem"),
        keyfile=str(tls / "client.key"),
    )
    return f"127.0.0.1:{cfg.tls_port}", auth


# At run time: is the listener there, does it let the stack's own clients in


def auth_listeners_on(cfg: Config) -> bool:
    """Whether our broker runs (or will run) with the SASL and TLS listeners."""
    return not cfg.external_kafka and kafka.runs_with(cfg, kafka.properties_text(cfg))


def _add_scram_user(cfg: Config) -> None:
    """Format adds the SCRAM user; a data dir formatted before the SASL listener existed gets
    it here, through the running broker (credentials live in its metadata log)."""
    say(f"kafka: adding the SCRAM user {SCRAM_USER!r} to existing data")
    cmd = kafka.java_cmd(
        cfg,
        "kafka.admin.ConfigCommand",
        "--bootstrap-server", cfg.bootstrap,
        "--alter", "--entity-type", "users", "--entity-name", SCRAM_USER,
        "--add-config", f"{SCRAM_MECHANISM}=[password={SCRAM_PASSWORD}]",
    )  # fmt: skip
    run(cmd, "adding the SCRAM user")


async def _wait_listener(cfg: Config, what: str, client: Client) -> None:
    bootstrap, auth = client
    deadline = time.monotonic() + kafka.READY_TIMEOUT_S
    security = auth.client_kwargs()
    while (
        problem := await probe_kafka(
            bootstrap, timeout_s=kafka.PROBE_TIMEOUT_S, client_kwargs=security
        )
    ) is not None:
        if time.monotonic() > deadline:
            raise StackError(
                f"Kafka's {what} listener at {bootstrap} refuses the stack's own client after "
                f"{kafka.READY_TIMEOUT_S:.0f} s ({problem!r})\n{log_tail(cfg.kafka_log)}"
            )
        await asyncio.sleep(0.25)


async def ensure_auth_listeners(cfg: Config) -> None:
    """The SCRAM user exists and both listeners let the stack's own clients in."""
    with kafka.quiet_aiokafka():
        bootstrap, scram = scram_client(cfg)
        refused = await probe_kafka(
            bootstrap, timeout_s=kafka.PROBE_TIMEOUT_S, client_kwargs=scram.client_kwargs()
        )
        if refused is not None:
            await asyncio.to_thread(_add_scram_user, cfg)
        await _wait_listener(cfg, "SASL/SCRAM", scram_client(cfg))
        await _wait_listener(cfg, "TLS", tls_client(cfg))
