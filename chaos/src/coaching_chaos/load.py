"""Sustained mixed load, as backends would send it: registrations, slots, booking races,
cancellations, completions, no-shows, reviews, and a few deliberately bad messages.

Each command is fired without blocking the loop; its outcome (tracked by correlation id)
updates the generator's picture of the world, which later commands build on.
"""

from __future__ import annotations

import asyncio
import random
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from coaching_chaos.history import DEAD_LETTER, EXPECT_HEADER
from coaching_chaos.tracker import Outcome, OutcomeTracker
from coaching_contracts import commands as c
from coaching_contracts import events as e
from coaching_contracts.base import WireModel
from coaching_contracts.topics import BOOKINGS_COMMANDS, SLOTS_COMMANDS, USERS_COMMANDS
from coaching_contracts.values import Role
from coaching_kit.bus import Bus
from coaching_kit.envelope import Envelope

# The header the invariant checker looks for: this message is meant to be dead-lettered.
EXPECT_DEAD_LETTER = (EXPECT_HEADER, DEAD_LETTER)
OUTCOME_TIMEOUT_S = 180.0


@dataclass
class Picture:
    coaches: list[str] = field(default_factory=list)
    students: list[str] = field(default_factory=list)
    open_slots: list[Outcome] = field(default_factory=list)
    active: list[Outcome] = field(default_factory=list)  # confirmed bookings
    ended: list[Outcome] = field(default_factory=list)  # terminal, not yet reviewed


@dataclass
class LoadStats:
    sent: Counter[str] = field(default_factory=Counter)
    answered: Counter[str] = field(default_factory=Counter)
    unanswered: int = 0
    publish_failures: int = 0


class LoadGenerator:
    def __init__(self, bus: Bus, tracker: OutcomeTracker, rate_per_s: float = 15.0) -> None:
        self.bus, self.tracker, self.rate = bus, tracker, rate_per_s
        self.world, self.stats = Picture(), LoadStats()
        self.pending: set[asyncio.Task[None]] = set()

    async def run(self, duration_s: float) -> None:
        loop = asyncio.get_running_loop()
        end = loop.time() + duration_s
        while loop.time() < end:
            self._spawn(self._one_action())
            await asyncio.sleep(1 / self.rate)

    async def drain(self) -> None:
        """Wait for the outcome of everything sent (bounded by OUTCOME_TIMEOUT_S each)."""
        while self.pending:
            await asyncio.gather(*list(self.pending), return_exceptions=True)

    def _spawn(self, coroutine) -> None:  # type: ignore[no-untyped-def]
        task = asyncio.create_task(coroutine)
        self.pending.add(task)
        task.add_done_callback(self.pending.discard)

    async def send(self, topic: str, command: WireModel) -> Outcome | None:
        try:
            envelope = await self.bus.send_command(topic, command)
        except Exception:
            self.stats.publish_failures += 1  # the broker is down: never acknowledged, not sent
            return None
        self.stats.sent[command.TYPE] += 1
        try:
            outcome = await asyncio.wait_for(
                self.tracker.expect(envelope.id, command.TYPE), OUTCOME_TIMEOUT_S
            )
        except TimeoutError:
            self.stats.unanswered += 1
            return None
        self.stats.answered[outcome["type_"]] += 1
        return outcome

    async def _one_action(self) -> None:
        w = self.world
        choices: list[tuple[Callable[[], Awaitable[None]], float]] = [(self._register, 3)]
        if w.coaches:
            choices.append((self._create_slot, 3))
        if w.open_slots and w.students:
            choices.append((self._race, 4))
        if w.active:
            choices += [(self._cancel, 1), (self._complete_or_no_show, 1)]
        if w.ended:
            choices.append((self._review, 1))
        choices.append((self._bad_message, 0.3))
        action = random.choices([f for f, _ in choices], [w for _, w in choices])[0]
        await action()

    async def _register(self) -> None:
        role = Role.COACH if random.random() < 0.3 else Role.STUDENT
        email = f"{role.lower()}-{uuid.uuid4().hex[:12]}@chaos.example"
        command = c.RegisterUser(email=email, first_name="Chaos", last_name="Monkey", role=role)
        outcome = await self.send(USERS_COMMANDS, command)
        if outcome and outcome["type_"] == e.UserRegistered.TYPE:
            (self.world.coaches if role is Role.COACH else self.world.students).append(
                outcome["userId"]
            )

    async def _create_slot(self) -> None:
        coach = random.choice(self.world.coaches)
        now = datetime.now(UTC)
        if random.random() < 0.4:  # soon and short: it will start, end and auto-complete
            start, length = now + timedelta(seconds=random.uniform(8, 30)), timedelta(seconds=5)
        else:
            start = now + timedelta(minutes=random.randint(60, 60 * 24 * 30))
            length = timedelta(minutes=30)
        command = c.CreateSlot(coach_id=coach, start_time=start, end_time=start + length)
        outcome = await self.send(SLOTS_COMMANDS, command)
        if outcome and outcome["type_"] == e.SlotCreated.TYPE:
            self.world.open_slots.append(outcome)

    async def _race(self) -> None:
        slot = self.world.open_slots.pop(random.randrange(len(self.world.open_slots)))
        racers = random.sample(
            self.world.students, min(len(self.world.students), random.randint(1, 4))
        )
        outcomes = await asyncio.gather(
            *(
                self.send(BOOKINGS_COMMANDS, c.CreateBooking(slot_id=slot["slotId"], student_id=s))
                for s in racers
            )
        )
        for outcome in outcomes:
            if outcome and outcome["type_"] == e.BookingConfirmed.TYPE:
                self.world.active.append(outcome)

    async def _cancel(self) -> None:
        booking = self.world.active.pop(random.randrange(len(self.world.active)))
        actor = random.choice([booking["studentId"], booking["coachId"]])
        outcome = await self.send(
            BOOKINGS_COMMANDS,
            c.CancelBooking(booking_id=booking["bookingId"], actor_id=actor, reason="chaos"),
        )
        self._settled(booking, outcome)

    async def _complete_or_no_show(self) -> None:
        booking = self.world.active.pop(random.randrange(len(self.world.active)))
        if random.random() < 0.7:
            command: WireModel = c.CompleteBooking(
                booking_id=booking["bookingId"], actor_id=booking["studentId"]
            )
        else:
            command = c.MarkNoShow(
                booking_id=booking["bookingId"],
                actor_id=booking["coachId"],
                no_show_by=Role.STUDENT,
            )
        self._settled(booking, await self.send(BOOKINGS_COMMANDS, command))

    def _settled(self, booking: Outcome, outcome: Outcome | None) -> None:
        # Answered either way: done, or rejected (too_early, too_late, or auto-completed
        # meanwhile). Either way the booking ends, so a review may follow (or be refused).
        if outcome is not None:
            self.world.ended.append(booking)

    async def _review(self) -> None:
        booking = self.world.ended.pop(random.randrange(len(self.world.ended)))
        command = c.SubmitReview(
            booking_id=booking["bookingId"],
            actor_id=booking["studentId"],
            satisfaction_score=random.randint(1, 5),
        )
        await self.send(BOOKINGS_COMMANDS, command)

    async def _bad_message(self) -> None:
        """Malformed JSON with a readable envelope: dead-lettered and answered `invalid`."""
        envelope = Envelope.new(type=c.RegisterUser.TYPE, source="/chaos")
        headers = [*envelope.headers().items(), EXPECT_DEAD_LETTER]
        try:
            await self.bus.send_raw(USERS_COMMANDS, b"{this is not json", headers, key=envelope.id)
        except Exception:
            self.stats.publish_failures += 1
            return
        self.stats.sent["bad message"] += 1
        try:
            outcome = await asyncio.wait_for(
                self.tracker.expect(envelope.id, "bad"), OUTCOME_TIMEOUT_S
            )
            self.stats.answered[outcome["type_"]] += 1
        except TimeoutError:
            self.stats.unanswered += 1
