"""Alembic operations for kit's own tables, called from each service's first revision.

They create the tables from their one definition in `db.py` (the one the relay and the
consumer query), so no service can drift from it. A later change to kit's tables comes as
a new operation here, called from a new revision of each service.
"""

from __future__ import annotations

from alembic import op

from coaching_kit.db import INBOX, OUTBOX
from coaching_kit.user_directory import USER_DIRECTORY


def create_kit_tables() -> None:
    bind = op.get_bind()
    for table in (OUTBOX, INBOX):
        table.create(bind)


def add_outbox_parking() -> None:
    """Revision 0002 of every service: parked outbox rows. Idempotent, because a database
    created after this change got the columns from `create_kit_tables` in revision 0001."""
    op.execute(
        "ALTER TABLE outbox ADD COLUMN IF NOT EXISTS parked_at timestamptz,"
        " ADD COLUMN IF NOT EXISTS park_reason text"
    )
    op.execute("DROP INDEX IF EXISTS ix_outbox_unpublished")
    op.execute(
        "CREATE INDEX ix_outbox_unpublished ON outbox (id)"
        " WHERE published_at IS NULL AND parked_at IS NULL"
    )


def drop_outbox_parking() -> None:
    op.execute("DROP INDEX IF EXISTS ix_outbox_unpublished")
    op.execute(
        "ALTER TABLE outbox DROP COLUMN IF EXISTS parked_at, DROP COLUMN IF EXISTS park_reason"
    )
    op.execute("CREATE INDEX ix_outbox_unpublished ON outbox (id) WHERE published_at IS NULL")


def create_user_directory() -> None:
    """For services that keep the users read model (user_directory.py)."""
    USER_DIRECTORY.create(op.get_bind())


def drop_user_directory() -> None:
    USER_DIRECTORY.drop(op.get_bind())


def drop_kit_tables() -> None:
    bind = op.get_bind()
    for table in (INBOX, OUTBOX):
        table.drop(bind)
