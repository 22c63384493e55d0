"""Alembic operations for kit's own tables, called from each service's first revision.

They create the tables from their one definition in `db.py` (the one the relay, the consumer
and the pending replies query), so no service can drift from it. A later change to kit's
tables comes as a new operation here, called from a new revision of each service.
"""

from __future__ import annotations

from alembic import op

from coaching_kit.db import KIT_TABLES
from coaching_kit.user_directory import USER_DIRECTORY


def create_kit_tables() -> None:
    """Outbox, inbox, relay lease and pending replies, as db.py defines them."""
    bind = op.get_bind()
    for table in KIT_TABLES:
        table.create(bind)


def drop_kit_tables() -> None:
    bind = op.get_bind()
    for table in reversed(KIT_TABLES):
        table.drop(bind)


def create_user_directory() -> None:
    """For services that keep the users read model (user_directory.py)."""
    USER_DIRECTORY.create(op.get_bind())


def drop_user_directory() -> None:
    USER_DIRECTORY.drop(op.get_bind())
