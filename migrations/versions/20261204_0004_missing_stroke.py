"""Attempts keep the missing stroke an incomplete verdict names.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-04 15:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0004"
down_revision: str | Sequence[str] | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

JSON_DOCUMENT = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")


def upgrade() -> None:
    # Nullable, no default: attempts graded before have no stroke named, and stay so.
    with op.batch_alter_table("attempts") as batch:
        batch.add_column(sa.Column("missing_stroke", JSON_DOCUMENT, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("attempts") as batch:
        batch.drop_column("missing_stroke")
