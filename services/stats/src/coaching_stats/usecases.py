"""Use cases of the stats service: count an event's change, answer with the new snapshot."""

from __future__ import annotations

from typing import Protocol

from coaching_contracts.events import CoachStatsUpdated
from coaching_stats.projection import Change, CoachStats, snapshot


class CoachStatsRepository(Protocol):
    async def add(self, change: Change) -> CoachStats: ...


class UnitOfWork(Protocol):
    """What the use cases need; the consumer owns the transaction around them."""

    @property
    def coach_stats(self) -> CoachStatsRepository: ...


async def count_change(uow: UnitOfWork, change: Change) -> CoachStatsUpdated:
    """Apply the change; the snapshot after it is what gateways get on `stats.events`."""
    return snapshot(await uow.coach_stats.add(change))
