"""`python -m coaching_gateway migrate|serve`, and `token` for development and tests:

    python -m coaching_gateway token --user <uuid> --role STUDENT [--scope webhooks:manage]
                                     [--ttl 3600]

prints an HS256 token signed with GATEWAY_JWT_SECRET (the documented local default unless
set; carrying GATEWAY_JWT_ISSUER / GATEWAY_JWT_AUDIENCE when set), which the gateway accepts
as that user. `coachctl token` prints the same (identity.local_token).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import uuid

from pydantic import ValidationError

from coaching_gateway import reply_topic
from coaching_gateway.config import GatewaySettings
from coaching_gateway.identity import Role, local_token
from coaching_kit.cli import run_service_cli


def main() -> None:
    try:
        settings = GatewaySettings()
    except ValidationError as exc:  # no key, or the local secret in production: not started
        sys.exit(f"gateway settings: {exc}")
    if sys.argv[1:2] == ["token"]:
        print(token(settings, sys.argv[2:]))
        return
    if sys.argv[1:2] == ["serve"]:
        asyncio.run(reply_topic.ensure(settings))
    run_service_cli("coaching_gateway", GatewaySettings)


def token(settings: GatewaySettings, argv: list[str]) -> str:
    parser = argparse.ArgumentParser(prog="python -m coaching_gateway token")
    parser.add_argument("--user", type=uuid.UUID, required=True, help="the user id (sub)")
    parser.add_argument("--role", type=Role, choices=list(Role), required=True)
    parser.add_argument(
        "--scope", action="append", default=[], help="a scope to grant (repeatable)"
    )
    parser.add_argument("--ttl", type=int, default=3600, help="seconds until it expires")
    args = parser.parse_args(argv)
    try:
        return local_token(settings, args.user, args.role, ttl_s=args.ttl, scopes=tuple(args.scope))
    except ValueError as exc:
        parser.error(str(exc))


if __name__ == "__main__":
    main()
