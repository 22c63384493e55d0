"""How `coachctl dlq` shows dead letters: a row per dead letter for --json, three lines per
dead letter for people, and whether (and with which marker) each was replayed."""

from __future__ import annotations

from typing import Any

from rich.console import Group, RenderableType
from rich.text import Text

from coaching_cli.config import Config
from coaching_cli.dead_letters import Letter
from coaching_contracts.asyncapi.headers import (
    DLQ_CONSUMER,
    DLQ_ERROR,
    DLQ_ORIGIN,
    DLQ_REASON,
    DLQ_TIME,
)
from coaching_contracts.asyncapi.headers import DLQ_REPLAYED_FROM as REPLAYED_FROM
from coaching_kit.bus import Seen


def summary(letter: Letter) -> dict[str, Any]:
    found = Seen.of(letter.record)
    row: dict[str, Any] = {"topic": found.topic, "at": letter.at}
    row |= {name: found.headers.get(name) for name in (DLQ_TIME, DLQ_REASON, DLQ_CONSUMER)}
    row |= {"type": found.type, "ce_id": found.headers.get("ce_id"), "key": found.key}
    row |= {name: found.headers.get(name) for name in (DLQ_ORIGIN, DLQ_ERROR, REPLAYED_FROM)}
    return row | replay_fields(letter)


def replay_fields(letter: Letter) -> dict[str, Any]:
    """`replay_marked`: the dead letter whose marker counts, this one or another dead letter
    of the same original record."""
    replay = letter.replay
    return {
        "replayed": replay is not None,
        "replayed_time": replay.time if replay else None,
        "replay_marked": replay.at if replay else None,
    }


def count(n: int) -> str:
    return f"{n} dead letter" + ("" if n == 1 else "s")


def replay_status(letter: Letter) -> Text:
    if letter.replay is None:
        return Text("not replayed", style="yellow")
    when = (letter.replay.time or "")[:19].replace("T", " ")
    other = "" if letter.replay.at == letter.at else f" with {letter.replay.at}, same original"
    return Text(f"replayed {when}{other}", style="green")


def listing(config: Config, letters: list[Letter], title: str) -> Group:
    """Three lines per dead letter, whatever the terminal's width: where, why and whether it
    was replayed; what; and the error (`dlq show` has every header)."""
    lines: list[RenderableType] = [Text(title, style="bold")]
    for letter in letters:
        row = summary(letter)
        origin = (row["topic"] or "").removeprefix(config.prefix).removesuffix(".dlq")
        when = (row[DLQ_TIME] or "")[:19].replace("T", " ")
        source = row.get(REPLAYED_FROM)
        again = f"  (a replay of {source})" if source else ""
        lines += [
            Text.assemble(
                (f"{origin} {row['at']}", "bold cyan"),
                f"  {when}  ",
                (row[DLQ_REASON] or "", "red"),
                f"  by {row[DLQ_CONSUMER]}  ",
                replay_status(letter),
            ),
            Text(f"  {row['type']}  ce_id {row['ce_id']}  key {row['key']}{again}"),
            Text(f"  {row[DLQ_ERROR]}", style="dim"),
        ]
    return Group(*lines)
