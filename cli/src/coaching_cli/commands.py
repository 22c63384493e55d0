"""The commands of contract v1, one coachctl command each: `user`, `slot`, `booking`.

Options are the command model's fields (`--coach-id`, with a short alias `--coach`); values
are validated by that model before anything is published, roles included (their values are
the contract's). Every command takes `--wait` (print the outcome; exit 1 when rejected),
`--json` and `--command-id` (a safe retry). Each imports its model when it runs: `--help`
needs no contract.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

import typer

from coaching_cli.options import typer_app
from coaching_cli.sending import CommandId, Delivery, Json, Timeout, Wait, send
from coaching_cli.times import HELP as TIME_HELP
from coaching_cli.times import parse_time

user = typer_app(help="Users: register coaches and students.", no_args_is_help=True)
slot = typer_app(help="Slots: a coach offers and withdraws time.", no_args_is_help=True)
booking = typer_app(
    help="Bookings: book a slot, then cancel, complete, mark a no-show, review.",
    no_args_is_help=True,
)


def _opt(*names: str, help: str) -> Any:
    return typer.Option(*names, help=help, show_default=False)


def _examples(*lines: str) -> str:
    return "Examples:\n\n" + "\n\n".join(f"  $ coachctl {line}" for line in lines)


def _time(*names: str, help: str) -> Any:
    return typer.Option(*names, help=help, parser=parse_time, metavar="TIME")


Start = Annotated[datetime, _time("--start-time", "--start", help=TIME_HELP)]
End = Annotated[datetime, _time("--end-time", "--end", help="Same forms as --start-time.")]
SlotId = Annotated[str, _opt("--slot-id", "--slot", help="The slot.")]
BookingId = Annotated[str, _opt("--booking-id", "--booking", help="The booking.")]
ActorId = Annotated[str, _opt("--actor-id", "--actor", help="The user doing it.")]
NewId = Annotated[str | None, _opt("--id", help="Name the new id (else derived from ce_id).")]


@user.command(
    "register",
    epilog=_examples(
        "user register --email ada@example.com --first-name Ada --last-name Lovelace"
        " --role COACH --wait"
    ),
)
def register_user(
    ctx: typer.Context,
    email: Annotated[str, _opt(help="Unique on the platform, ignoring case.")],
    first_name: Annotated[str, _opt(help="Given name.")],
    last_name: Annotated[str, _opt(help="Family name.")],
    role: Annotated[str, _opt(help="COACH offers slots, STUDENT books them.")],
    phone_number: Annotated[str | None, _opt("--phone-number", "--phone", help="Optional.")] = None,
    user_id: NewId = None,
    wait: Wait = False,
    timeout: Timeout = 30.0,
    as_json: Json = False,
    command_id: CommandId = None,
) -> None:
    """Register a coach or a student: coaching.user.register.v1."""
    from coaching_contracts.commands import RegisterUser

    names = {"first_name": first_name, "last_name": last_name}
    fields = {"email": email, **names, "role": role, "phone_number": phone_number}
    how = Delivery(wait, timeout, as_json, command_id)
    send(ctx, RegisterUser, {**fields, "user_id": user_id}, how)


@slot.command(
    "create",
    epilog=_examples(
        "slot create --coach <coach-id> --start +1d --end +1d1h --wait",
        "slot create --coach <coach-id> --start 2026-03-01T09:00:00+01:00"
        " --end 2026-03-01T10:00:00+01:00 --json",
    ),
)
def create_slot(
    ctx: typer.Context,
    coach_id: Annotated[str, _opt("--coach-id", "--coach", help="The coach offering it.")],
    start_time: Start,
    end_time: End,
    slot_id: NewId = None,
    wait: Wait = False,
    timeout: Timeout = 30.0,
    as_json: Json = False,
    command_id: CommandId = None,
) -> None:
    """Offer a slot: coaching.slot.create.v1 (the coach is the actor)."""
    from coaching_contracts.commands import CreateSlot

    fields = {"coach_id": coach_id, "start_time": start_time, "end_time": end_time}
    how = Delivery(wait, timeout, as_json, command_id)
    send(ctx, CreateSlot, {**fields, "slot_id": slot_id}, how)


@slot.command("delete", epilog=_examples("slot delete --slot <slot-id> --actor <coach-id> --wait"))
def delete_slot(
    ctx: typer.Context,
    slot_id: SlotId,
    actor_id: ActorId,
    wait: Wait = False,
    timeout: Timeout = 30.0,
    as_json: Json = False,
    command_id: CommandId = None,
) -> None:
    """Withdraw an AVAILABLE slot: coaching.slot.delete.v1 (only its coach may)."""
    from coaching_contracts.commands import DeleteSlot

    fields = {"slot_id": slot_id, "actor_id": actor_id}
    send(ctx, DeleteSlot, fields, Delivery(wait, timeout, as_json, command_id))


@booking.command(
    "create", epilog=_examples("booking create --slot <slot-id> --student <student-id> --wait")
)
def create_booking(
    ctx: typer.Context,
    slot_id: SlotId,
    student_id: Annotated[str, _opt("--student-id", "--student", help="The student booking.")],
    booking_id: NewId = None,
    wait: Wait = False,
    timeout: Timeout = 30.0,
    as_json: Json = False,
    command_id: CommandId = None,
) -> None:
    """Book a slot: coaching.booking.create.v1; --wait prints confirmed or rejected."""
    from coaching_contracts.commands import CreateBooking

    fields = {"slot_id": slot_id, "student_id": student_id, "booking_id": booking_id}
    send(ctx, CreateBooking, fields, Delivery(wait, timeout, as_json, command_id))


@booking.command(
    "cancel",
    epilog=_examples("booking cancel --booking <id> --actor <student-id> --reason 'ill' --wait"),
)
def cancel_booking(
    ctx: typer.Context,
    booking_id: BookingId,
    actor_id: ActorId,
    reason: Annotated[str | None, _opt(help="Why, for the other side.")] = None,
    wait: Wait = False,
    timeout: Timeout = 30.0,
    as_json: Json = False,
    command_id: CommandId = None,
) -> None:
    """Cancel an ACTIVE booking: coaching.booking.cancel.v1 (its student or coach)."""
    from coaching_contracts.commands import CancelBooking

    fields = {"booking_id": booking_id, "actor_id": actor_id, "reason": reason}
    send(ctx, CancelBooking, fields, Delivery(wait, timeout, as_json, command_id))


@booking.command(
    "complete", epilog=_examples("booking complete --booking <id> --actor <coach-id> --wait")
)
def complete_booking(
    ctx: typer.Context,
    booking_id: BookingId,
    actor_id: ActorId,
    wait: Wait = False,
    timeout: Timeout = 30.0,
    as_json: Json = False,
    command_id: CommandId = None,
) -> None:
    """Complete an ACTIVE booking once it started: coaching.booking.complete.v1."""
    from coaching_contracts.commands import CompleteBooking

    fields = {"booking_id": booking_id, "actor_id": actor_id}
    send(ctx, CompleteBooking, fields, Delivery(wait, timeout, as_json, command_id))


@booking.command(
    "no-show",
    epilog=_examples("booking no-show --booking <id> --actor <coach-id> --by STUDENT --wait"),
)
def mark_no_show(
    ctx: typer.Context,
    booking_id: BookingId,
    actor_id: ActorId,
    no_show_by: Annotated[
        str, _opt("--no-show-by", "--by", help="Who did not turn up: COACH or STUDENT.")
    ],
    wait: Wait = False,
    timeout: Timeout = 30.0,
    as_json: Json = False,
    command_id: CommandId = None,
) -> None:
    """Record a no-show after the start: coaching.booking.mark-no-show.v1."""
    from coaching_contracts.commands import MarkNoShow

    fields = {"booking_id": booking_id, "actor_id": actor_id, "no_show_by": no_show_by}
    send(ctx, MarkNoShow, fields, Delivery(wait, timeout, as_json, command_id))


@booking.command(
    "review",
    epilog=_examples("booking review --booking <id> --actor <student-id> --score 5 --wait"),
)
def review_booking(
    ctx: typer.Context,
    booking_id: BookingId,
    actor_id: ActorId,
    satisfaction_score: Annotated[int, _opt("--satisfaction-score", "--score", help="1 to 5.")],
    notes: Annotated[str | None, _opt(help="Free text.")] = None,
    wait: Wait = False,
    timeout: Timeout = 30.0,
    as_json: Json = False,
    command_id: CommandId = None,
) -> None:
    """Review a finished booking: coaching.review.submit.v1 (its student, once)."""
    from coaching_contracts.commands import SubmitReview

    score = {"satisfaction_score": satisfaction_score, "notes": notes}
    fields = {"booking_id": booking_id, "actor_id": actor_id, **score}
    send(ctx, SubmitReview, fields, Delivery(wait, timeout, as_json, command_id))
