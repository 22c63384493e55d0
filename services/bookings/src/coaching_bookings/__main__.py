"""`python -m coaching_bookings migrate|serve`."""

from __future__ import annotations

from coaching_bookings.config import BookingsSettings
from coaching_kit.cli import run_service_cli


def main() -> None:
    run_service_cli("coaching_bookings", BookingsSettings)


if __name__ == "__main__":
    main()
