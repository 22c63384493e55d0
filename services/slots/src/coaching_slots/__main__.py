"""`python -m coaching_slots migrate|serve`."""

from __future__ import annotations

from coaching_kit.cli import run_service_cli
from coaching_slots.config import SlotsSettings


def main() -> None:
    run_service_cli("coaching_slots", SlotsSettings)


if __name__ == "__main__":
    main()
