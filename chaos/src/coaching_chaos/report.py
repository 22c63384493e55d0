"""The verdict of one check: counts, the lines behind them, and a table for humans."""

from __future__ import annotations

from dataclasses import dataclass, field

# The invariants; any count above zero breaks the promise.
VIOLATIONS = (
    "lost",
    "duplicated",
    "double_booked",
    "orphaned",
    "stuck",
    "unpublished",
    "stats_mismatch",
    "unexpected_dead_letters",
    "missing_dead_letters",
)
_SHOWN_PER_INVARIANT = 20


@dataclass
class Report:
    commands: int = 0  # distinct (topic, ce_id) commands published
    outcomes: int = 0  # distinct final outcome events matched to them
    dead_letters: int = 0  # distinct dead letters on the .dlq topics (copies dropped)
    lost: int = 0
    duplicated: int = 0
    double_booked: int = 0
    orphaned: int = 0
    stuck: int = 0
    unpublished: int = 0
    stats_mismatch: int = 0
    unexpected_dead_letters: int = 0
    missing_dead_letters: int = 0
    details: dict[str, list[str]] = field(default_factory=dict)
    # invariants not checked, and why (e.g. a database the caller did not name)
    skipped: list[str] = field(default_factory=list)

    def add(self, invariant: str, lines: list[str]) -> None:
        if invariant not in VIOLATIONS:
            raise ValueError(f"unknown invariant {invariant!r}")
        setattr(self, invariant, getattr(self, invariant) + len(lines))
        if lines:
            self.details.setdefault(invariant, []).extend(lines)

    @property
    def ok(self) -> bool:
        return not any(getattr(self, name) for name in VIOLATIONS)

    def render(self) -> str:
        rows = [("commands", self.commands), ("outcomes", self.outcomes)]
        rows += [(name, getattr(self, name)) for name in VIOLATIONS]
        rows.append(("dead_letters", self.dead_letters))
        lines = [f"{'invariant':<26}{'count':>8}", "-" * 34]
        lines += [f"{name:<26}{count:>8}" for name, count in rows]
        for name, details in self.details.items():
            lines.append(f"\n{name}:")
            lines += [f"  {line}" for line in details[:_SHOWN_PER_INVARIANT]]
            if len(details) > _SHOWN_PER_INVARIANT:
                lines.append(f"  ... and {len(details) - _SHOWN_PER_INVARIANT} more")
        lines += [f"skipped: {reason}" for reason in self.skipped]
        lines.append(f"\nverdict: {'OK' if self.ok else 'VIOLATED'}")
        return "\n".join(lines)
