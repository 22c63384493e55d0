from __future__ import annotations

from typing import ClassVar

from pydantic import SecretStr, model_validator
from pydantic_settings import SettingsConfigDict

from coaching_kit.settings import ServiceSettings

# The HS256 secret a development machine uses when none is set (docs/gateway.md). Anyone can
# read it here, so anyone could sign tokens with it: GATEWAY_ENV=production refuses it.
LOCAL_JWT_SECRET = "local-development-only-gateway-secret"  # noqa: S105  (published on purpose)
PRODUCTION = "production"


class GatewaySettings(ServiceSettings):
    """Environment: GATEWAY_DATABASE_URL, GATEWAY_JWT_SECRET, GATEWAY_HTTP_PORT, ...
    (docs/gateway.md lists every one)."""

    model_config = SettingsConfigDict(env_prefix="GATEWAY_")
    service_name: ClassVar[str] = "gateway"
    http_port: int = 8000
    # `production` refuses the local development secret; any other value is a local setup.
    env: str = "local"

    # Identity: HS256 tokens signed with the shared secret (empty: HS256 is off), RS256 tokens
    # whose key the JWKS document names; at least one must be set.
    jwt_secret: SecretStr = SecretStr(LOCAL_JWT_SECRET)
    jwks_url: str = ""
    jwt_issuer: str = ""  # when set, tokens must carry this `iss`
    jwt_audience: str = ""  # when set, tokens must carry this `aud`
    jwt_leeway_s: float = 30.0  # clock skew allowed on `exp` and `nbf`

    # Anyone may register (POST /v1/users without a token); off, only an ADMIN may.
    registration_open: bool = True

    # Commands: how long a request waits for the outcome before answering 202 (a client
    # may ask for less with `Prefer: wait=N`), and the poll that backs up LISTEN/NOTIFY.
    wait_s: float = 5.0
    outcome_poll_interval_s: float = 1.0
    # The reply topic the gateway creates if missing: its replication factor.
    reply_topic_replication: int = 1

    # HTTP limits. The rate limit is a token bucket per token subject on each replica.
    max_body_bytes: int = 64 * 1024
    rate_limit_per_s: float = 50.0
    rate_limit_burst: int = 100
    # Comma-separated origins allowed by CORS ("*" for any); empty: no CORS headers at all.
    cors_origins: str = ""

    # Server-sent events: a comment line this often keeps proxies from closing the stream.
    sse_ping_s: float = 15.0
    sse_poll_interval_s: float = 2.0

    # Webhooks. Retries back off from 10 s, doubling up to 6 h, with jitter: the 16 attempts
    # span about a day (14.7 h at the least, 29.4 h at the most), then the endpoint is disabled.
    webhook_timeout_s: float = 10.0
    webhook_max_attempts: int = 16
    webhook_backoff_initial_s: float = 10.0
    webhook_backoff_max_s: float = 6 * 3600.0
    # A claimed delivery not finished within this long (its replica died) is tried again.
    webhook_lease_s: float = 60.0
    webhook_concurrency: int = 16
    webhook_poll_interval_s: float = 1.0
    # The SSRF guard refuses private and loopback targets, and plain http; this opens both
    # for local development and tests (webhooks/ssrf.py).
    webhook_allow_private: bool = False

    @model_validator(mode="after")
    def _check_keys(self) -> GatewaySettings:
        """Fail at start, not with a 401 on every request."""
        secret = self.jwt_secret.get_secret_value()
        if self.env.lower() == PRODUCTION and secret == LOCAL_JWT_SECRET:
            raise ValueError(
                "GATEWAY_JWT_SECRET is the published local default, refused when "
                "GATEWAY_ENV=production: set a secret of your own, or set it empty and use "
                "GATEWAY_JWKS_URL"
            )
        if not secret and not self.jwks_url:
            raise ValueError("set GATEWAY_JWT_SECRET or GATEWAY_JWKS_URL: no token is verifiable")
        return self

    @property
    def cors_origin_list(self) -> list[str]:
        return [origin.strip() for origin in self.cors_origins.split(",") if origin.strip()]

    @property
    def reply_topic(self) -> str:
        """Where the services send the outcomes of the gateway's commands, without the
        deployment's topic prefix (under the reply prefix, as `reply_to` must be)."""
        return self.reply_topic_prefix + self.service_name
