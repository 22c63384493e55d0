from __future__ import annotations

from datetime import timedelta
from typing import ClassVar

from pydantic_settings import SettingsConfigDict

from coaching_bookings.domain.lifecycle import Policy
from coaching_kit.settings import ServiceSettings


class BookingsSettings(ServiceSettings):
    """Environment: BOOKINGS_DATABASE_URL, BOOKINGS_CANCELLATION_CUTOFF_MINUTES, ..."""

    model_config = SettingsConfigDict(env_prefix="BOOKINGS_")
    service_name: ClassVar[str] = "bookings"
    http_port: int = 8003
    # Booking policies (docs/contract.md, "Booking policies"): a cancellation is accepted
    # only while now < start - cutoff (0: any time before the start); auto-completion waits
    # this long after a session's end, so a participant may still mark a no-show first.
    cancellation_cutoff_minutes: float = 0
    completion_grace_seconds: float = 0
    # Auto-completion: how often an idle replica looks for ended sessions, and how many
    # bookings one transaction completes (it keeps row locks short under a large backlog).
    auto_complete_interval_s: float = 1.0
    auto_complete_batch: int = 100

    @property
    def policy(self) -> Policy:
        return Policy(
            cancellation_cutoff=timedelta(minutes=self.cancellation_cutoff_minutes),
            completion_grace=timedelta(seconds=self.completion_grace_seconds),
        )
