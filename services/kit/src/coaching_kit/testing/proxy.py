"""A TCP proxy a test can cut, blackhole and restore: a real network fault between a service
and a server, without stopping the server other tests share."""

from __future__ import annotations

import asyncio
import contextlib


class FaultyProxy:
    """Forwards 127.0.0.1:<port> to a target.

    `cut()` drops every connection and refuses new ones until `restore()`: a fault both ends
    notice at once. `blackhole()` stops forwarding bytes but keeps every socket open, and
    holds new connections without forwarding them: a half-open link (a frozen peer, a
    partition behind a middlebox), which neither end notices by itself, since its kernel
    still acknowledges what is sent. `restore()` forwards again, bytes held meanwhile too."""

    def __init__(self, target_host: str, target_port: int) -> None:
        self.target = (target_host, target_port)
        self.port = 0
        self.connected = True
        self._flowing = asyncio.Event()
        self._flowing.set()
        self._server: asyncio.Server | None = None
        self._pipes: set[asyncio.Task[None]] = set()
        self._writers: set[asyncio.StreamWriter] = set()

    @property
    def blackholed(self) -> bool:
        return not self._flowing.is_set()

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        self.cut()
        if self._server:
            self._server.close()
            await self._server.wait_closed()

    def cut(self) -> None:
        self.connected = False
        self._flowing.set()  # connections held by a blackhole wake up, see the cut, close
        for writer in list(self._writers):
            writer.transport.abort()
        for pipe in list(self._pipes):
            pipe.cancel()

    def blackhole(self) -> None:
        self._flowing.clear()

    def restore(self) -> None:
        self.connected = True
        self._flowing.set()

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._writers.add(writer)
        await self._flowing.wait()  # a blackhole holds the new connection, silent
        try:
            if not self.connected:
                raise ConnectionRefusedError
            up_reader, up_writer = await asyncio.open_connection(*self.target)
        except OSError:
            self._writers.discard(writer)
            writer.transport.abort()
            return
        self._writers.add(up_writer)
        for source, sink in ((reader, up_writer), (up_reader, writer)):
            task = asyncio.create_task(self._pipe(source, sink))
            self._pipes.add(task)
            task.add_done_callback(self._pipes.discard)

    async def _pipe(self, source: asyncio.StreamReader, sink: asyncio.StreamWriter) -> None:
        try:
            while True:
                # Neither read nor write while blackholed: the bytes wait in the kernels'
                # buffers, as in a network that stopped delivering.
                await self._flowing.wait()
                data = await source.read(65536)
                if not data:
                    break
                await self._flowing.wait()
                sink.write(data)
                await sink.drain()
        except (OSError, asyncio.CancelledError):
            pass
        finally:
            self._writers.discard(sink)
            with contextlib.suppress(Exception):
                sink.transport.abort()
