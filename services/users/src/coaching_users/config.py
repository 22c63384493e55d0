from __future__ import annotations

from typing import ClassVar

from pydantic_settings import SettingsConfigDict

from coaching_kit.settings import ServiceSettings


class UsersSettings(ServiceSettings):
    """Environment: USERS_DATABASE_URL, USERS_KAFKA_BOOTSTRAP_SERVERS, USERS_HTTP_PORT, ..."""

    model_config = SettingsConfigDict(env_prefix="USERS_")
    service_name: ClassVar[str] = "users"
    http_port: int = 8001
