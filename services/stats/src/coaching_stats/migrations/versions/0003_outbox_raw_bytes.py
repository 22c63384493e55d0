"""outbox rows hold raw bytes (bytea key, header arrays) and a lane; the relay lease table

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-02
"""

from collections.abc import Sequence

from coaching_kit.migration_ops import outbox_raw_bytes, outbox_text_headers

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    outbox_raw_bytes()


def downgrade() -> None:
    outbox_text_headers()
