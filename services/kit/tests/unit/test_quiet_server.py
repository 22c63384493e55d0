"""The services' HTTP server ticks once a second instead of ten times: a stop signal still
ends it gracefully, and responses still carry a current Date header."""

import signal
import subprocess
import sys
import time
from email.utils import parsedate_to_datetime

import httpx

from coaching_kit.testing.process import free_port

_SERVE = """
import sys, uvicorn
from coaching_kit.cli import QuietServer

async def app(scope, receive, send):
    if scope["type"] != "http":
        return
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": b"ok"})

QuietServer(uvicorn.Config(app, port=int(sys.argv[1]), log_level="warning")).run()
"""


def test_a_stop_signal_still_ends_the_server_and_the_date_header_is_current() -> None:
    port = free_port()
    server = subprocess.Popen([sys.executable, "-c", _SERVE, str(port)])  # noqa: S603 (ours)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                response = httpx.get(f"http://127.0.0.1:{port}/", timeout=1)
                break
            except httpx.TransportError:
                assert time.monotonic() < deadline, "the server never answered"
                time.sleep(0.05)
        assert response.text == "ok"
        sent = parsedate_to_datetime(response.headers["date"]).timestamp()
        assert abs(sent - time.time()) < 5
        server.send_signal(signal.SIGTERM)
        # After its graceful shutdown uvicorn raises the signal again, as the process's own
        # default handling of it.
        assert server.wait(timeout=10) == -signal.SIGTERM
    finally:
        server.kill()
        server.wait()
