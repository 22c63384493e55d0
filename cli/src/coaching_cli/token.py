"""`coachctl token`: a bearer token the local gateway accepts, for trying its HTTP API.

The token's claims and signing are the gateway's own (coaching_gateway.identity), imported
only when the command runs, so every other command starts without the gateway's code; it
comes with the `token` extra (`pip install 'coaching-cli[token]'`)."""

from __future__ import annotations

import uuid
from typing import Annotated

import typer

from coaching_cli.running import need_extra

EXAMPLES = """Examples:

  coachctl token --user 3f0c…-… --role STUDENT

  curl -H "Authorization: Bearer $(coachctl token --user $ID --role COACH)" \\
      http://127.0.0.1:8000/v1/coaches/$ID/stats

  coachctl token --user $ID --role COACH --scope webhooks:manage --ttl 600
"""


def token(
    user: Annotated[uuid.UUID, typer.Option(help="The user id (the token's `sub`).")],
    role: Annotated[str, typer.Option(help="COACH, STUDENT or ADMIN (the gateway's own).")],
    scope: Annotated[
        list[str] | None, typer.Option(help="A scope to grant, e.g. webhooks:manage; repeatable.")
    ] = None,
    ttl: Annotated[int, typer.Option(help="Seconds until it expires.", min=1)] = 3600,
) -> None:
    """Print an HS256 token signed with GATEWAY_JWT_SECRET (the gateway's documented local
    default unless set); the gateway refuses that default when GATEWAY_ENV=production."""
    need_extra("coaching_gateway", "token", "coachctl token")
    from coaching_gateway.config import GatewaySettings
    from coaching_gateway.identity import Role, local_token

    try:
        parsed = Role(role.upper())
    except ValueError:
        raise typer.BadParameter(f"{role!r} is not one of COACH, STUDENT, ADMIN") from None
    try:
        printed = local_token(GatewaySettings(), user, parsed, ttl_s=ttl, scopes=tuple(scope or ()))
    except ValueError as exc:
        typer.echo(f"coachctl token: {exc}", err=True)
        raise typer.Exit(2) from None
    typer.echo(printed)
