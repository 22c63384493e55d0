"""A webhook receiver, as an integrator would run one: it verifies every delivery's
signature with the `standardwebhooks` library and answers as the test tells it to."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from standardwebhooks import Webhook


@dataclass
class Received:
    message_id: str
    body: dict[str, Any]
    verified: bool


@dataclass
class Receiver:
    """`answer(message_id)` gives the status to answer (it may block, to hold a delivery)."""

    answer: Callable[[str], int] = lambda _: 204
    secret: str = ""
    received: list[Received] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _server: ThreadingHTTPServer | None = None

    def start(self) -> str:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("content-length", "0")))
                receiver._record(body, dict(self.headers.items()))
                status = receiver.answer(self.headers.get("webhook-id", ""))
                self.send_response(status)
                self.send_header("content-length", "0")
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return f"http://127.0.0.1:{self._server.server_port}/hooks/coaching"

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()

    def _record(self, body: bytes, headers: dict[str, str]) -> None:
        try:
            Webhook(self.secret).verify(body, headers)
            verified = True
        except Exception:
            verified = False
        message_id = {k.lower(): v for k, v in headers.items()}.get("webhook-id", "")
        with self._lock:
            self.received.append(Received(message_id, json.loads(body), verified))

    def snapshot(self) -> list[Received]:
        with self._lock:
            return list(self.received)

    async def until(
        self, done: Callable[[list[Received]], bool], timeout: float = 60.0
    ) -> list[Received]:
        deadline = time.monotonic() + timeout
        while not done(seen := self.snapshot()):
            assert time.monotonic() < deadline, (
                f"timed out; received {[r.body['type'] for r in seen]}"
            )
            await asyncio.sleep(0.05)
        return seen
