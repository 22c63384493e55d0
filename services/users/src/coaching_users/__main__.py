"""`python -m coaching_users migrate|serve`."""

from __future__ import annotations

from coaching_kit.cli import run_service_cli
from coaching_users.config import UsersSettings


def main() -> None:
    run_service_cli("coaching_users", UsersSettings)


if __name__ == "__main__":
    main()
