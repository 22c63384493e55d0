"""Alembic operations for kit's own tables, called from each service's first revision.

They create the tables from their one definition in `db.py` (the one the relay and the
consumer query), so no service can drift from it. A later change to kit's tables comes as
a new operation here, called from a new revision of each service.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from coaching_kit.db import INBOX, OUTBOX, RELAY_LEASE
from coaching_kit.user_directory import USER_DIRECTORY


def create_kit_tables() -> None:
    bind = op.get_bind()
    for table in (OUTBOX, INBOX, RELAY_LEASE):
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


def outbox_raw_bytes() -> None:
    """Revision 0003 of every service: outbox rows hold raw bytes and a lane; the relay lease.

    A database created after this change got all of it from `create_kit_tables` in revision
    0001 (and 0002 rebuilt the index the old way), so every step is idempotent: the
    conversion runs only where the old `headers` column exists, constraints and the index
    are rebuilt, the lease table is created if missing."""
    bind = op.get_bind()
    if "headers" in {column["name"] for column in sa.inspect(bind).get_columns("outbox")}:
        _convert_old_rows()
    _drop_constraints_and_index()
    op.execute(
        "ALTER TABLE outbox"
        " ADD CONSTRAINT ck_outbox_lane CHECK (lane IN ('event', 'reply', 'dead_letter')),"
        " ADD CONSTRAINT ck_outbox_headers_paired"
        " CHECK (cardinality(header_names) = cardinality(header_values))"
    )
    _create_unpublished_index("(lane, id)")
    RELAY_LEASE.create(bind, checkfirst=True)


def _convert_old_rows() -> None:
    # Existing rows get the lane the code would have given them: dead letters go to `.dlq`
    # topics, replies carry the caller's `correlation_id` (handlers.Emitter.reply).
    op.execute(
        "ALTER TABLE outbox ADD COLUMN IF NOT EXISTS lane varchar(16) NOT NULL DEFAULT 'event',"
        " ADD COLUMN header_names bytea[] NOT NULL DEFAULT '{}',"
        " ADD COLUMN header_values bytea[] NOT NULL DEFAULT '{}'"
    )
    # jsonb_each_text yields the object's members in one fixed order, numbered by ORDINALITY,
    # so both arrays list the headers in the same order. A value behind the `base64:` prefix
    # was stored that way because it was not UTF-8 text (or began with the prefix itself).
    op.execute(
        """
        UPDATE outbox SET
          lane = CASE WHEN topic LIKE '%.dlq' THEN 'dead_letter'
                      WHEN headers ? 'correlation_id' THEN 'reply'
                      ELSE 'event' END,
          header_names = ARRAY(
            SELECT convert_to(h.name, 'UTF8')
            FROM jsonb_each_text(headers) WITH ORDINALITY AS h(name, value, n) ORDER BY h.n),
          header_values = ARRAY(
            SELECT CASE WHEN h.value LIKE 'base64:%' THEN decode(substr(h.value, 8), 'base64')
                        ELSE convert_to(h.value, 'UTF8') END
            FROM jsonb_each_text(headers) WITH ORDINALITY AS h(name, value, n) ORDER BY h.n)
        """
    )
    op.execute(
        "ALTER TABLE outbox DROP COLUMN headers,"
        " ALTER COLUMN key TYPE bytea USING convert_to(key, 'UTF8')"
    )


def _drop_constraints_and_index() -> None:
    op.execute("DROP INDEX IF EXISTS ix_outbox_unpublished")
    op.execute(
        "ALTER TABLE outbox DROP CONSTRAINT IF EXISTS ck_outbox_lane,"
        " DROP CONSTRAINT IF EXISTS ck_outbox_headers_paired"
    )


def _create_unpublished_index(columns: str) -> None:
    op.execute(
        f"CREATE INDEX ix_outbox_unpublished ON outbox {columns}"
        " WHERE published_at IS NULL AND parked_at IS NULL"
    )


def outbox_text_headers() -> None:
    """Revision 0003's downgrade: back to jsonb headers and a text key, no lanes, no lease.

    Lossy where the old format cannot say it: of a repeated header name the last value is
    kept, a null header value becomes empty, and a key or header name that is not UTF-8 text
    (or holds NUL) is kept in PostgreSQL's `escape` form. A header value that is not text
    is kept exactly, behind the old `base64:` prefix."""
    _drop_constraints_and_index()
    # A session-scoped helper: PostgreSQL has no "is this valid UTF-8" test that does not
    # raise, and a migration must not fail on the very bytes this revision made storable.
    op.execute(
        "CREATE FUNCTION pg_temp.utf8_or_null(raw bytea) RETURNS text LANGUAGE plpgsql AS"
        " $$ BEGIN RETURN convert_from(raw, 'UTF8');"
        " EXCEPTION WHEN OTHERS THEN RETURN NULL; END $$"
    )
    op.execute("ALTER TABLE outbox ADD COLUMN headers jsonb NOT NULL DEFAULT '{}'")
    op.execute(
        """
        UPDATE outbox SET headers = coalesce((
          SELECT jsonb_object_agg(
                   coalesce(pg_temp.utf8_or_null(h.name), encode(h.name, 'escape')),
                   CASE WHEN h.value IS NULL THEN ''
                        WHEN pg_temp.utf8_or_null(h.value) NOT LIKE 'base64:%'
                          THEN pg_temp.utf8_or_null(h.value)
                        ELSE 'base64:' || translate(encode(h.value, 'base64'), chr(10), '')
                   END
                   ORDER BY h.n)
          FROM unnest(header_names, header_values) WITH ORDINALITY AS h(name, value, n)
        ), '{}')
        """
    )
    op.execute(
        "ALTER TABLE outbox ALTER COLUMN headers DROP DEFAULT,"
        " ALTER COLUMN key TYPE text"
        " USING coalesce(pg_temp.utf8_or_null(key), encode(key, 'escape')),"
        " DROP COLUMN header_names, DROP COLUMN header_values, DROP COLUMN lane"
    )
    op.execute("DROP FUNCTION pg_temp.utf8_or_null(bytea)")
    _create_unpublished_index("(id)")
    op.execute("DROP TABLE IF EXISTS relay_lease")


def create_user_directory() -> None:
    """For services that keep the users read model (user_directory.py)."""
    USER_DIRECTORY.create(op.get_bind())


def drop_user_directory() -> None:
    USER_DIRECTORY.drop(op.get_bind())


def drop_kit_tables() -> None:
    bind = op.get_bind()
    # checkfirst: revision 0003's downgrade has already dropped the lease table.
    for table in (RELAY_LEASE, INBOX, OUTBOX):
        table.drop(bind, checkfirst=True)
