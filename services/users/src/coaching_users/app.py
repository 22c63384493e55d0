"""Composition root of the users service: `uvicorn coaching_users.app:app`."""

from __future__ import annotations

from coaching_kit.logs import configure_logging
from coaching_kit.service import Service
from coaching_users.config import UsersSettings
from coaching_users.subscribers import command_handlers

settings = UsersSettings()
configure_logging(settings.log_level)
service = Service(settings, [command_handlers])
app = service.asgi()
