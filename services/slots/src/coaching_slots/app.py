"""Composition root of the slots service: `uvicorn coaching_slots.app:app`."""

from __future__ import annotations

from coaching_kit.logs import configure_logging
from coaching_kit.service import Service
from coaching_slots.config import SlotsSettings
from coaching_slots.subscribers import (
    bookings_event_handlers,
    command_handlers,
    users_event_handlers,
)

settings = SlotsSettings()
configure_logging(settings.log_level)
policies = settings.policies()
handlers = [command_handlers(policies), users_event_handlers, bookings_event_handlers(policies)]
service = Service(settings, handlers)
app = service.asgi()
