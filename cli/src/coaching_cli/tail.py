"""`coachctl tail <topic>`: records of one topic with their CloudEvents headers.

Reads with no consumer group, so it never moves a service's offsets. Topic names are the
contract's (`bookings.events`, `users.commands.dlq`); `--prefix` is added.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated

import typer

from coaching_cli.options import of
from coaching_cli.render import as_dict, emit_json, out, record_view
from coaching_cli.running import run

if TYPE_CHECKING:
    from coaching_cli.config import Config
    from coaching_kit.bus import Seen

EXAMPLES = (
    "Examples:\n\n"
    "  $ coachctl tail bookings.events\n\n"
    "  $ coachctl tail users.events --from-beginning --type coaching.user.registered.v1\n\n"
    "  $ coachctl tail slots.events --from-beginning --key <slot-id> --no-follow --json"
)


def tail(
    topic: Annotated[str, typer.Argument(help="A contract topic, e.g. bookings.events.")],
    ctx: typer.Context,
    from_beginning: Annotated[bool, typer.Option(help="Start at the first record.")] = False,
    follow: Annotated[
        bool, typer.Option(help="Keep waiting for new records (else stop at the end).")
    ] = True,
    type: Annotated[str | None, typer.Option("--type", help="Only this ce_type.")] = None,
    key: Annotated[str | None, typer.Option(help="Only this Kafka key (aggregate id).")] = None,
    limit: Annotated[int | None, typer.Option(help="Stop after N records shown.", min=1)] = None,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object per line.")] = False,
) -> None:
    """Print a topic's records with their headers: time, type, key, subject, correlation,
    data. Follows new records until Ctrl-C unless --no-follow or --limit ends it."""
    spec = Tail(topic, from_beginning, follow, type, key, limit, as_json)
    run(spec.show(of(ctx)))


@dataclass(frozen=True)
class Tail:
    topic: str
    from_beginning: bool
    follow: bool
    type: str | None
    key: str | None
    limit: int | None
    as_json: bool

    def wanted(self, record: Seen) -> bool:
        return (self.type in (None, record.type)) and (self.key in (None, record.key))

    async def show(self, config: Config) -> None:
        from coaching_cli.kafka import Reader
        from coaching_kit.bus import Seen

        shown = 0
        async with Reader(config, [config.topic(self.topic)]) as reader:
            ends = await reader.start_at("beginning" if self.from_beginning else "end")
            async for record in reader.records(stop_at=None if self.follow else ends):
                if not self.wanted(found := Seen.of(record)):
                    continue
                self.print(found)
                shown += 1
                if self.limit is not None and shown >= self.limit:
                    return

    def print(self, record: Seen) -> None:
        if self.as_json:
            emit_json(as_dict(record))
        else:
            out.print(record_view(record))
