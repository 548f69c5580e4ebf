"""Sheets graded as a whole: origin, layout, status, error, cells, score, what to practise.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-22 09:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0002"
down_revision: str | Sequence[str] | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

JSON_DOCUMENT = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")
COLUMNS = (
    ("source", sa.String(length=1024)),
    ("layout", JSON_DOCUMENT),
    ("status", sa.String(length=16)),
    ("error", sa.Text()),
    ("cells_sent", sa.Integer()),
    ("blank_cells", JSON_DOCUMENT),
    ("score", sa.Float()),
    ("practise", JSON_DOCUMENT),
    ("annotated_path", sa.String(length=1024)),
    ("graded_at", sa.DateTime(timezone=True)),
)


def upgrade() -> None:
    # Batch mode: SQLite cannot add several columns in place; Postgres just runs ALTER TABLE.
    with op.batch_alter_table("sheets") as batch:
        for name, type_ in COLUMNS:
            batch.add_column(sa.Column(name, type_, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("sheets") as batch:
        for name, _ in reversed(COLUMNS):
            batch.drop_column(name)
