"""What every coachctl command needs to reach the platform: Kafka, the topic namespace, the
services' HTTP addresses and the PostgreSQL server. Set by the global options (or their
environment variables) once, in the app's callback, and handed to commands on the context.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar

import typer
from pydantic import ValidationError
from pydantic_settings import SettingsConfigDict

from coaching_contracts.topics import SERVICES
from coaching_kit.settings import DEFAULT_KAFKA, DEFAULT_SERVER_URL, ServiceSettings

DEFAULT_URLS = {name: f"http://127.0.0.1:{8001 + i}" for i, name in enumerate(SERVICES)}


@dataclass(frozen=True)
class Config:
    bootstrap: str = DEFAULT_KAFKA
    prefix: str = ""
    urls: dict[str, str] = field(default_factory=lambda: dict(DEFAULT_URLS))
    # An admin URL to any database of the server (doctor), as the services' DATABASE_URL.
    database_url: str = DEFAULT_SERVER_URL
    stats_database_url: str | None = None
    # Authentication for every Kafka client coachctl makes (empty for PLAINTEXT).
    kafka: dict[str, Any] = field(default_factory=dict)

    def topic(self, name: str) -> str:
        """The real topic name of a contract topic in this namespace."""
        return self.prefix + name


def of(ctx: typer.Context) -> Config:
    """The configuration the app's callback put on the context (defaults when run alone)."""
    root = ctx.find_root()
    return root.obj if isinstance(root.obj, Config) else Config()


class _KafkaSettings(ServiceSettings):
    """Only for its Kafka security settings, read exactly as every service reads them:
    KAFKA_SECURITY_PROTOCOL, KAFKA_SASL_*, KAFKA_SSL_* (a `COACHCTL_` variant overrides)."""

    model_config = SettingsConfigDict(env_prefix="COACHCTL_")
    service_name: ClassVar[str] = "coachctl"


def kafka_from_environment() -> dict[str, Any]:
    """The Kafka clients' authentication keyword arguments, or exit 2 naming what is wrong."""
    try:
        return _KafkaSettings().kafka_auth.client_kwargs()
    except ValidationError as exc:
        problems = "; ".join(str(e["msg"]) for e in exc.errors())
        raise typer.BadParameter(f"Kafka security settings: {problems}") from None
