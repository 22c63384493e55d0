"""Composition root of the slots service: `uvicorn coaching_slots.app:app`."""

from __future__ import annotations

from coaching_kit.logs import configure_logging
from coaching_kit.service import Service
from coaching_slots.config import SlotsSettings
from coaching_slots.subscribers import bookings_events, slots_commands, users_events

settings = SlotsSettings()
configure_logging(settings.log_level)
policies = settings.policies()
service = Service(settings, [slots_commands(policies), users_events, bookings_events(policies)])
app = service.asgi()
