"""What every coachctl command needs to reach the platform: Kafka, the topic namespace, the
services' HTTP addresses and the PostgreSQL server, resolved from the global options
(options.py) when a command first asks for them.

For each setting the first source that has it wins: the option on the command line, an
environment file, the environment, the local stack's default. An environment file holds
variables as a shell would export them (`KAFKA_BOOTSTRAP_SERVERS=localhost:29092`); it is
loaded into this process's environment, so the Kafka security settings and a service's own
settings read by `stats rebuild|check` come from it too. It overrides the environment
because it was named for this run, and the environment may be left over from another stack
(`coaching_devstack env`).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import typer
from pydantic import ValidationError
from pydantic_settings import SettingsConfigDict

from coaching_cli.options import ENVIRONMENT
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


def resolve(typed: dict[str, Any]) -> Config:
    """The configuration from the options typed (by parameter name), an environment file
    (--env-file or COACHCTL_ENV_FILE) and the environment."""
    env_file = typed.get("env_file") or os.environ.get(ENVIRONMENT["env_file"])
    if env_file:
        load_env_file(Path(env_file))

    def setting(name: str) -> str | None:
        return typed[name] if name in typed else os.environ.get(ENVIRONMENT[name]) or None

    return Config(
        bootstrap=setting("bootstrap") or DEFAULT_KAFKA,
        prefix=setting("prefix") or "",
        urls={name: setting(f"{name}_url") or url for name, url in DEFAULT_URLS.items()},
        database_url=setting("database_url") or DEFAULT_SERVER_URL,
        stats_database_url=setting("stats_database_url"),
        kafka=kafka_from_environment(),
    )


def load_env_file(path: Path) -> None:
    """Export the file's variables into this process, over the environment's."""
    from dotenv import dotenv_values

    if not path.is_file():
        raise typer.BadParameter(f"no such file: {path}", param_hint="env file")
    os.environ.update({k: v for k, v in dotenv_values(path).items() if v is not None})


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
