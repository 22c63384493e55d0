"""email unique in any Unicode case: a normalised column computed in Python

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-29

The old unique index was on lower(email), and PostgreSQL's lower() under the C locale
(`initdb --no-locale`) folds only A-Z: ÉLODIE@x.io and élodie@x.io were two users. The new
column holds domain.normalized_email(email) (NFKC and Unicode case folding), which SQL cannot
compute, so existing rows are filled here in Python, in batches.
"""

import logging
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from coaching_users.domain import normalized_email

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

log = logging.getLogger(__name__)
_BATCH = 1000


def upgrade() -> None:
    # Nullable: the previous release, still running during a rolling update, inserts
    # without it. A later revision fills what it left and adds NOT NULL.
    op.add_column("users", sa.Column("email_normalized", sa.Text(), nullable=True))
    _backfill()
    _set_apart_legacy_duplicates()
    op.create_index("uq_users_email_normalized", "users", ["email_normalized"], unique=True)
    op.drop_index("uq_users_email_lower", table_name="users")


def downgrade() -> None:
    # Cannot fail: addresses equal under lower() are equal under the normalisation too.
    op.create_index("uq_users_email_lower", "users", [sa.text("lower(email)")], unique=True)
    op.drop_index("uq_users_email_normalized", table_name="users")
    op.drop_column("users", "email_normalized")


def _backfill() -> None:
    conn = op.get_bind()
    pending = sa.text(
        "SELECT id, email FROM users WHERE email_normalized IS NULL ORDER BY id LIMIT :n"
    )
    fill = sa.text("UPDATE users SET email_normalized = :key WHERE id = :id")
    while rows := conn.execute(pending, {"n": _BATCH}).all():
        conn.execute(fill, [{"id": row.id, "key": normalized_email(row.email)} for row in rows])


def _set_apart_legacy_duplicates() -> None:
    """Users registered before this revision whose addresses differ beyond A-Z case (STRASSE
    and straße, ÉLODIE and élodie) were accepted as two. Both accounts stay; the earliest
    keeps the normalised address, so no new registration can take it, and each later one
    gets it plus a space and its id, a key no address can have (addresses have no spaces)."""
    conn = op.get_bind()
    set_apart = conn.execute(
        sa.text(
            "UPDATE users AS later SET email_normalized = later.email_normalized || ' ' || later.id"
            " WHERE EXISTS (SELECT 1 FROM users AS earlier"
            "  WHERE earlier.email_normalized = later.email_normalized"
            "  AND (earlier.created_at, earlier.id) < (later.created_at, later.id))"
            " RETURNING later.id, later.email"
        )
    ).all()
    for row in set_apart:
        log.warning("users: %s (%s) shares its address with an earlier user", row.id, row.email)
