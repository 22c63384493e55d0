"""A start-up that waits (for Kafka, during an outage) must still stop when told to.

uvicorn acts on SIGTERM and SIGINT only once the app's start-up has finished, so a service
waiting for the broker would ignore a stop for as long as the outage lasts (a Kubernetes
rollout would wait out its grace period, then kill it). While the wait lasts, the signals set
an event instead; uvicorn's own handlers are put back afterwards.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
from collections.abc import AsyncIterator

_STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)


class StartupInterruptedError(RuntimeError):
    """A stop signal arrived before the service finished starting."""


@contextlib.asynccontextmanager
async def stoppable() -> AsyncIterator[asyncio.Event]:
    """The event is set when a stop signal arrives inside the block."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    previous = {sig: signal.getsignal(sig) for sig in _STOP_SIGNALS}
    installed = []
    for sig in _STOP_SIGNALS:
        with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
            loop.add_signal_handler(sig, stop.set)  # main thread only; elsewhere: no-op
            installed.append(sig)
    try:
        yield stop
    finally:
        for sig in installed:
            loop.remove_signal_handler(sig)
            signal.signal(sig, previous[sig])


async def pause(stop: asyncio.Event, seconds: float) -> None:
    """Sleep, unless a stop arrives first: then raise StartupInterruptedError."""
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), seconds)
    if stop.is_set():
        raise StartupInterruptedError("stopped while waiting to start")
