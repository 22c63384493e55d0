from __future__ import annotations

from typing import ClassVar

from pydantic_settings import SettingsConfigDict

from coaching_kit.settings import ServiceSettings


class StatsSettings(ServiceSettings):
    """Environment: STATS_DATABASE_URL, STATS_KAFKA_BOOTSTRAP_SERVERS, STATS_HTTP_PORT, ..."""

    model_config = SettingsConfigDict(env_prefix="STATS_")
    service_name: ClassVar[str] = "stats"
    http_port: int = 8004
