"""Composition root of the gateway: `uvicorn coaching_gateway.app:app`."""

from __future__ import annotations

from coaching_gateway import api
from coaching_gateway.api.deps import Parts
from coaching_gateway.api.limits import RateLimiter
from coaching_gateway.config import GatewaySettings
from coaching_gateway.identity import TokenVerifier
from coaching_gateway.notify import Notifications
from coaching_gateway.outcomes import OutcomeWaiter
from coaching_gateway.sending import CommandSender
from coaching_gateway.subscribers import handlers
from coaching_gateway.webhooks.dispatcher import Dispatcher
from coaching_kit.logs import configure_logging
from coaching_kit.relay import asyncpg_dsn
from coaching_kit.service import Service

settings = GatewaySettings()
configure_logging(settings.log_level)
verifier = TokenVerifier(settings)
notifications = Notifications(asyncpg_dsn(settings.database_url))
dispatcher = Dispatcher(settings, notifications)
service = Service(
    settings, handlers(settings.reply_topic), background=[notifications.run, dispatcher.run]
)
waiter = OutcomeWaiter(service.engine, notifications, settings.outcome_poll_interval_s)
sender = CommandSender(
    service.engine, waiter, settings.topic_prefix, settings.topic_prefix + settings.reply_topic
)
limiter = RateLimiter(settings.rate_limit_per_s, settings.rate_limit_burst)
parts = Parts(settings, service.engine, verifier, sender, notifications, limiter)
app = api.build(parts, service.asgi())
