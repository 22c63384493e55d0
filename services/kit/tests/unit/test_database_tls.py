"""PostgreSQL over TLS: libpq's variables (PGSSLMODE, PGSSLROOTCERT) reach every way a service
connects (the SQLAlchemy engine, the outbox relay's and `migrate`'s own asyncpg connections),
and TLS options in the URL, which reach only one of them, stop the service at start.

The server here is a stand-in on loopback: it answers PostgreSQL's SSLRequest by starting TLS
with a certificate made for another host name, so a client that checks the name
(`verify-full`) refuses it before sending anything else."""

import asyncio
import contextlib
import ssl
from collections.abc import AsyncIterator
from typing import ClassVar

import asyncpg
import pytest
import trustme
from pydantic import ValidationError
from pydantic_settings import SettingsConfigDict

from coaching_kit.db import create_engine
from coaching_kit.migrations import ensure_database
from coaching_kit.relay import asyncpg_dsn
from coaching_kit.settings import ServiceSettings

SSL_REQUEST = (8).to_bytes(4, "big") + (80877103).to_bytes(4, "big")


class DemoSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="DEMO_")
    service_name: ClassVar[str] = "demo"


@pytest.fixture(scope="module")
def certificate(tmp_path_factory) -> dict[str, str]:
    """A CA, and a certificate it signed for `elsewhere.example` with its key."""
    directory = tmp_path_factory.mktemp("pg-tls")
    ca = trustme.CA()
    leaf = ca.issue_cert("elsewhere.example")
    ca.cert_pem.write_to_path(directory / "ca.pem")
    leaf.cert_chain_pems[0].write_to_path(directory / "cert.pem")
    leaf.private_key_pem.write_to_path(directory / "key.pem")
    return {name: str(directory / f"{name}.pem") for name in ("ca", "cert", "key")}


@pytest.fixture
async def server(certificate) -> AsyncIterator[tuple[int, list[str]]]:
    """(port, what each connection did): `tls` once its handshake completed, `clear` when a
    client sent anything but an SSLRequest first."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(certificate["cert"], certificate["key"])
    seen: list[str] = []

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(Exception):
            if await reader.readexactly(8) != SSL_REQUEST:
                seen.append("clear")
                return
            writer.write(b"S")
            await writer.drain()
            await writer.start_tls(context)
            seen.append("tls")
        writer.close()

    listener = await asyncio.start_server(serve, "127.0.0.1", 0)
    yield listener.sockets[0].getsockname()[1], seen
    listener.close()
    await listener.wait_closed()


@pytest.fixture
def verify_full(monkeypatch, certificate) -> None:
    monkeypatch.setenv("PGSSLMODE", "verify-full")
    monkeypatch.setenv("PGSSLROOTCERT", certificate["ca"])


def _url(port: int) -> str:
    return f"postgresql+asyncpg://demo:secret@127.0.0.1:{port}/coaching_demo"


def _refused_for_its_name(error: BaseException) -> bool:
    chain = [error, error.__cause__, error.__context__]
    return any(isinstance(e, ssl.SSLCertVerificationError) for e in chain)


@pytest.mark.usefixtures("verify_full")
async def test_the_engine_refuses_a_server_certified_for_another_host(server):
    port, seen = server
    engine = create_engine(_url(port), pool_size=1)
    with pytest.raises(Exception) as raised:  # noqa: PT011 (SQLAlchemy may wrap it)
        async with engine.connect():
            pass
    await engine.dispose()
    assert _refused_for_its_name(raised.value), raised.value
    assert seen == [], "the handshake must not complete"


@pytest.mark.usefixtures("verify_full")
async def test_the_relays_and_migrates_connections_refuse_it_too(server):
    port, seen = server
    with pytest.raises(ssl.SSLCertVerificationError):
        await asyncpg.connect(asyncpg_dsn(_url(port)))
    with pytest.raises(ssl.SSLCertVerificationError):
        await ensure_database(_url(port))
    assert seen == []


async def test_without_pgsslmode_the_client_would_have_gone_on(server, monkeypatch):
    # The control: asyncpg's default (`prefer`) takes any certificate (and, when TLS fails,
    # tries again in clear), which is why production sets PGSSLMODE=verify-full.
    monkeypatch.delenv("PGSSLMODE", raising=False)
    port, seen = server
    with contextlib.suppress(Exception):
        await asyncio.wait_for(asyncpg.connect(asyncpg_dsn(_url(port))), 5)
    assert seen[:1] == ["tls"]


@pytest.mark.parametrize("query", ["sslmode=verify-full", "ssl=require", "sslrootcert=/ca.crt"])
def test_tls_options_in_the_database_url_stop_the_service_at_start(monkeypatch, query):
    monkeypatch.setenv("DEMO_DATABASE_URL", f"postgresql+asyncpg://demo:s3cret@db/demo?{query}")
    with pytest.raises(ValidationError) as raised:
        DemoSettings()
    assert "DEMO_DATABASE_URL" in str(raised.value)
    assert "PGSSLMODE" in str(raised.value)
    assert "s3cret" not in str(raised.value)


def test_other_url_options_are_left_alone(monkeypatch):
    url = "postgresql+asyncpg://demo:s3cret@db/demo?application_name=demo"
    monkeypatch.setenv("DEMO_DATABASE_URL", url)
    assert DemoSettings().database_url == url
