"""How the broker answers this consumer's fetches: at once, after gathering, or long-polled.

aiokafka sends no new fetch to a broker while one is in flight to it. A fetch built while
some partitions still had records in hand leaves those partitions out, and once their records
are handled they wait for that open fetch to come back: up to `fetch_max_wait_ms` when the
partitions it covers are quiet. Three paces follow from that:

- **idle** (a poll came back empty): nothing is in hand, so the open fetch covers every
  partition and any new record ends it at once. The wait only sets how often an empty fetch
  comes back, each costing about 0.6 ms of aiokafka's Python protocol code (at 100 ms, two
  thirds of an idle service's CPU): it waits long.
- **prompt** (records arrive one at a time): the broker answers as soon as one record is
  there, and holds an empty fetch up to `busy_ms`, which bounds the wait described above.
- **gathering** (the last poll brought several records): records arrive faster than they
  are handled, and every batch has a fixed cost (a fetch, a transaction, a relay round, in
  each service on the way). The broker holds the fetch until `GATHER_BYTES` are there or
  `GATHER_WAIT_MS` passed, so a batch takes what a few milliseconds bring instead of the one
  or two records that came in since the last: fewer, larger batches, and cores left free.

aiokafka reads both values from its fetcher for every request it builds and offers no public
way to change them after start-up, so this sets the fetcher's attributes; `attach` checks
that they are there, so an aiokafka that renamed them fails at start, not silently.
"""

from __future__ import annotations

from typing import Any

from aiokafka import AIOKafkaConsumer

# An empty fetch a second at most while idle; it adds no latency, since a record arriving
# ends the open fetch at once.
IDLE_FETCH_WAIT_MS = 1000
# A poll of at least this many records switches to gathering; fewer switch back.
GATHER_FROM_RECORDS = 2
GATHER_BYTES = 16 * 1024  # about 25 commands or events
GATHER_WAIT_MS = 5  # the most gathering adds to a hop

_WAIT, _MIN_BYTES = "_fetch_max_wait_ms", "_fetch_min_bytes"


class FetchWait:
    def __init__(self, fetcher: Any, busy_ms: int, idle_ms: int) -> None:
        self._fetcher = fetcher
        self.busy_ms = busy_ms
        self.idle_ms = max(idle_ms, busy_ms)

    @classmethod
    def attach(
        cls, consumer: AIOKafkaConsumer, busy_ms: int, idle_ms: int = IDLE_FETCH_WAIT_MS
    ) -> FetchWait:
        """For a started consumer."""
        fetcher = getattr(consumer, "_fetcher", None)
        for name in (_WAIT, _MIN_BYTES):
            if not isinstance(getattr(fetcher, name, None), int):
                raise RuntimeError(f"aiokafka's fetcher has no {name}: adapt fetch_wait.py")
        return cls(fetcher, busy_ms, idle_ms)

    @property
    def pace(self) -> tuple[int, int]:
        """(max wait ms, min bytes) of the next fetch."""
        return getattr(self._fetcher, _WAIT), getattr(self._fetcher, _MIN_BYTES)

    def polled(self, records: int) -> None:
        """Set the pace of the next fetches from what the last poll brought; called before
        the fetcher builds its next request (the caller has not yielded since the poll)."""
        if records == 0:
            self._set(self.idle_ms, 1)
        elif records < GATHER_FROM_RECORDS:
            self._set(self.busy_ms, 1)
        else:
            self._set(min(GATHER_WAIT_MS, self.busy_ms), GATHER_BYTES)

    def _set(self, wait_ms: int, min_bytes: int) -> None:
        setattr(self._fetcher, _WAIT, wait_ms)
        setattr(self._fetcher, _MIN_BYTES, min_bytes)
