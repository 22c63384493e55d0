from __future__ import annotations

from datetime import timedelta
from typing import ClassVar

from pydantic_settings import SettingsConfigDict

from coaching_kit.settings import ServiceSettings
from coaching_slots.domain import Policies


class SlotsSettings(ServiceSettings):
    """Environment: SLOTS_DATABASE_URL, SLOTS_KAFKA_BOOTSTRAP_SERVERS, SLOTS_HTTP_PORT, and the
    deployment's booking policies: SLOTS_MAX_SLOT_HOURS, SLOTS_HORIZON_DAYS,
    SLOTS_MIN_BOOKING_NOTICE_MINUTES."""

    model_config = SettingsConfigDict(env_prefix="SLOTS_")
    service_name: ClassVar[str] = "slots"
    http_port: int = 8002
    max_slot_hours: float = 8
    horizon_days: int = 365
    min_booking_notice_minutes: float = 0

    def policies(self) -> Policies:
        return Policies(
            max_slot_length=timedelta(hours=self.max_slot_hours),
            horizon=timedelta(days=self.horizon_days),
            min_booking_notice=timedelta(minutes=self.min_booking_notice_minutes),
        )
