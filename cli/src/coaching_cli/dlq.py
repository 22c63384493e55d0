"""`coachctl dlq list|show|replay`: the dead letters of a topic, `<topic>.dlq`.

A dead letter is the original record (key, value, headers) plus the headers the consumer
that gave up on it added: dlq_reason, dlq_error, dlq_origin (topic/partition@offset),
dlq_consumer and dlq_time (coaching_kit.consumer). Positions are `partition@offset` in the
`.dlq` topic, as `dlq list` shows them. Every command reads the `.dlq` topic to its end once;
the markers `dlq replay` leaves there (dead_letters.py) are never listed, shown or replayed.

Here are the commands and their options; which dead letters they mean is dlq_picking.py's,
imported when a command runs.
"""

from __future__ import annotations

from typing import Annotated

import typer

from coaching_cli.options import of, typer_app
from coaching_cli.render import as_dict, emit_json, out, record_view
from coaching_cli.running import INVALID, fail, run

app = typer_app(help="Dead letters: list them, show one, replay them.", no_args_is_help=True)
Topic = Annotated[str, typer.Argument(help="The original topic, e.g. users.commands.")]
Json = Annotated[bool, typer.Option("--json", help="Machine-readable JSON only.")]
Consumers = Annotated[
    list[str] | None,
    typer.Option(
        "--consumer",
        metavar="SERVICE",
        help="Only dead letters of this consumer (the service that gave up on the record);"
        " repeat it or give a comma list.",
    ),
]
_REASON = "Only dead letters with this dlq_reason; repeat it or give a comma list."
_ANY = "Every dlq_reason (replay: including records that can never succeed as they are)."
AnyReason = Annotated[bool, typer.Option("--any-reason", help=_ANY)]

LIST_EXAMPLES = (
    "Examples:\n\n  $ coachctl dlq list\n\n  $ coachctl dlq list users.commands\n\n"
    "  $ coachctl dlq list slots.events --consumer stats --reason handler_error"
)
REPLAY_EXAMPLES = (
    "Examples:\n\n"
    "  $ coachctl dlq replay slots.events --all --dry-run\n\n"
    "  $ coachctl dlq replay slots.events --all --consumer stats\n\n"
    "  $ coachctl dlq replay slots.events --all --consumer stats,bookings --yes\n\n"
    "  $ coachctl dlq replay users.commands --offset 2@0 --reason schema_invalid\n\n"
    "  $ coachctl dlq replay users.events --all --any-reason --dry-run"
)


@app.command("list", epilog=LIST_EXAMPLES)
def list_(
    ctx: typer.Context,
    topic: Annotated[str | None, typer.Argument(help="One topic; default every topic.")] = None,
    consumer: Consumers = None,
    reason: Annotated[list[str] | None, typer.Option(metavar="REASON", help=_REASON)] = None,
    any_reason: AnyReason = False,
    as_json: Json = False,
) -> None:
    """Every dead letter of a topic (or of all), with why, where it came from, and whether it
    was replayed. Lists every reason unless --reason is given (replay defaults to
    handler_error)."""
    from coaching_cli.dead_letters import Selection
    from coaching_cli.dlq_picking import base_topics, contents_of, selection_of
    from coaching_cli.dlq_view import count, listing, summary

    selection = selection_of(consumer, reason, any_reason, None)
    config = of(ctx)
    contents = contents_of(config, [topic] if topic else base_topics())
    letters = [letter for letter in contents.letters if selection.admits(letter)]
    rows = [summary(letter) for letter in letters]
    matching = "" if selection == Selection(reasons=None) else f" of {selection.describe()}"
    if as_json:
        emit_json(rows)
    elif not rows:
        out.print(f"no dead letters{matching}")
    else:
        replayed = sum(row["replayed"] for row in rows)
        title = f"{count(len(rows))}{matching} ({replayed} replayed)"
        out.print(listing(config, letters, title))


@app.command("show", epilog="Example:\n\n  $ coachctl dlq show users.commands 2@0")
def show(
    ctx: typer.Context,
    topic: Topic,
    at: Annotated[str, typer.Argument(help="partition@offset, or an offset if unambiguous.")],
    as_json: Json = False,
) -> None:
    """One dead letter: every header (the dlq_* ones included), its value, and whether it
    was replayed."""
    from coaching_cli.dlq_picking import contents_of, select
    from coaching_cli.dlq_view import replay_fields, replay_status
    from coaching_kit.bus import Seen

    letter = select(contents_of(of(ctx), [topic]), at)
    if as_json:
        emit_json(as_dict(Seen.of(letter.record)) | replay_fields(letter))
    else:
        out.print(record_view(Seen.of(letter.record)), replay_status(letter))


@app.command("replay", epilog=REPLAY_EXAMPLES)
def replay(
    ctx: typer.Context,
    topic: Topic,
    offset: Annotated[str | None, typer.Option(help="One dead letter: partition@offset.")] = None,
    all_: Annotated[
        bool, typer.Option("--all", help="Every dead letter the filters select (asks first).")
    ] = False,
    consumer: Consumers = None,
    reason: Annotated[
        list[str] | None,
        typer.Option(metavar="REASON", help=f"{_REASON} Default: handler_error."),
    ] = None,
    any_reason: AnyReason = False,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask before --all.")] = False,
    dry_run: Annotated[
        bool, typer.Option(help="Show what would be replayed; send nothing.")
    ] = False,
) -> None:
    """Republish dead letters to their original topic: the original key, value and headers
    (the same ce_id), minus the dlq_* ones, plus dlq_replayed_from (this dead letter's
    position, so a replay that dies again names its source) and dlq_replayed_at.

    Only handler_error dead letters unless --reason or --any-reason: the others are about
    the record itself, which a replay sends unchanged. Each original record is replayed once:
    after Kafka acknowledges a replay, a marker on the .dlq topic records it, and a dead
    letter with a marker (or whose original has one) is skipped. A crash between a replay and
    its marker can replay that one record once more; inboxes drop it by its ce_id. A command
    was already answered (invalid, internal): its replay is dropped by the inbox, not applied.
    """
    from coaching_cli import dlq_picking as picking
    from coaching_cli.dead_letters import DEFAULT_REASONS, plan
    from coaching_cli.dlq_view import count, listing
    from coaching_cli.replaying import replay as send_replays

    if (offset is None) == (not all_):
        fail("give exactly one of --offset or --all", INVALID)
    selection = picking.selection_of(consumer, reason, any_reason, DEFAULT_REASONS)
    if all_ and not (yes or dry_run or picking.interactive()):
        fail(
            "--all asks before replaying, and standard input is not a terminal: add --yes"
            " to replay without asking (--dry-run shows what would be replayed)",
            INVALID,
        )
    config = of(ctx)
    contents = picking.contents_of(config, [topic])
    chosen = picking.choose(contents, offset, selection)
    work = plan(chosen)
    target = config.topic(topic)
    excluded = len(contents.letters) - len(chosen)
    notes = picking.notes(work.replayed, work.same_origin, excluded, all_)
    if not work.send:
        found = f"{count(len(chosen))} of {selection.describe()}"
        out.print(f"nothing to replay to {target}: {found}{notes}", highlight=False)
        return
    if dry_run:
        title = f"dry run: would replay {count(len(work.send))} to {target}{notes}"
        out.print(listing(config, work.send, title))
        return
    if all_ and not yes:
        picking.confirm(work.send, target)
    run(send_replays(config, target, work.send))
    out.print(f"replayed {count(len(work.send))} to {target}{notes}", highlight=False)
