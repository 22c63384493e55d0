"""A pooled connection whose server side ended (a database restart, a terminated backend) is
never handed out again: the hot path's statements run on the driver itself, where a failure
does not pass through SQLAlchemy, so without this every retry would get the dead one back."""

import asyncio
import time

import asyncpg

from coaching_kit.db import create_engine, driver_of
from coaching_kit.inbox import first_deliveries
from coaching_kit.relay import asyncpg_dsn


async def test_a_connection_whose_backend_was_terminated_is_replaced_at_checkout(kit_db):
    engine = create_engine(kit_db, pool_size=1)
    try:
        async with engine.begin() as conn:
            driver = await driver_of(conn)
            backend = await driver.fetchval("SELECT pg_backend_pid()")
        admin = await asyncpg.connect(asyncpg_dsn(kit_db))
        try:
            assert await admin.fetchval("SELECT pg_terminate_backend($1)", backend)
        finally:
            await admin.close()
        deadline = time.monotonic() + 10
        while not driver.is_closed():  # asyncpg sees the socket end on its next loop turn
            assert time.monotonic() < deadline, "asyncpg never saw its connection end"
            await asyncio.sleep(0.01)
        # The hot path's first statement of a batch, straight on the driver.
        async with engine.begin() as conn:
            fresh = await first_deliveries(conn, [("probe", "m-1")])
            assert await (await driver_of(conn)).fetchval("SELECT pg_backend_pid()") != backend
        assert fresh == {("probe", "m-1")}
    finally:
        await engine.dispose()
