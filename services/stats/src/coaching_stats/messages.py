"""Stats -> contract events: the coach's full snapshot, as published and as served."""

from __future__ import annotations

from coaching_contracts.events import CoachStatsUpdated
from coaching_stats.projection import CoachStats


def coach_stats_updated(stats: CoachStats) -> CoachStatsUpdated:
    """The full snapshot published on `stats.events` and served by the read API."""
    return CoachStatsUpdated(
        coach_id=stats.coach_id,
        **stats.counts.as_dict(),
        average_rating=stats.average_rating,
        last_updated=stats.last_updated,
    )
