"""The platform the abuse suite attacks: users, slots and bookings in the session's
namespace, started once per module (its services stop before the next module's join the
same consumer groups). A module that needs another platform defines its own `platform`."""

from collections.abc import AsyncIterator

import pytest

from coaching_kit.testing.platform import Platform
from coaching_kit.testing.running import running_platform_fixture  # noqa: F401


@pytest.fixture(scope="module")
async def platform(running_platform) -> AsyncIterator[Platform]:
    async with running_platform(("users", "slots", "bookings")) as running:
        yield running
