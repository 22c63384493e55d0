"""Use cases of the stats service: count events' changes, answer with the new snapshots."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Protocol

from coaching_contracts.events import CoachStatsUpdated
from coaching_stats.messages import coach_stats_updated
from coaching_stats.projection import Change, CoachStats


class CoachStatsRepository(Protocol):
    async def add_all(self, changes: Sequence[Change]) -> dict[uuid.UUID, CoachStats]: ...


class UnitOfWork(Protocol):
    """What the use cases need; the consumer owns the transaction around them."""

    @property
    def coach_stats(self) -> CoachStatsRepository: ...


async def count_changes(
    uow: UnitOfWork, changes: Sequence[Change]
) -> dict[uuid.UUID, CoachStatsUpdated]:
    """Apply the changes, several per coach folded into one; per coach, the snapshot after
    them is what gateways get on `stats.events` (one per coach, not one per event: each
    snapshot is whole, so the last one says everything the ones before it would have)."""
    folded: dict[uuid.UUID, Change] = {}
    for change in changes:
        held = folded.get(change.coach_id)
        folded[change.coach_id] = change if held is None else held.then(change)
    if not folded:
        return {}
    after = await uow.coach_stats.add_all(list(folded.values()))
    return {coach: coach_stats_updated(stats) for coach, stats in after.items()}
