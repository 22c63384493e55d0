"""Composition root of the stats service: `uvicorn coaching_stats.app:app`."""

from __future__ import annotations

from coaching_kit.logs import configure_logging
from coaching_kit.service import Service
from coaching_stats.api import ReadApi, lag_route
from coaching_stats.config import StatsSettings
from coaching_stats.subscribers import ALL_HANDLERS

settings = StatsSettings()
configure_logging(settings.log_level)
service = Service(settings, ALL_HANDLERS)
app = ReadApi(service.engine, service.asgi(extra_routes=[lag_route(settings)]))
