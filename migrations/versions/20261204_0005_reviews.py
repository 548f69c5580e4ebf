"""Reviews: a person's verdict on a graded attempt, kept beside the machine's.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-04 16:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | Sequence[str] | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # A new table only: existing attempts are untouched and simply have no review yet.
    op.create_table(
        "reviews",
        sa.Column("job_id", sa.String(length=64), nullable=False),
        sa.Column("tenant_id", sa.Integer(), nullable=False),
        sa.Column("verdict", sa.String(length=32), nullable=False),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("reviewer", sa.String(length=255), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["job_id"], ["attempts.job_id"],
                                name=op.f("fk_reviews_job_id_attempts")),
        sa.ForeignKeyConstraint(["tenant_id"], ["tenants.id"],
                                name=op.f("fk_reviews_tenant_id_tenants")),
        sa.PrimaryKeyConstraint("job_id", name=op.f("pk_reviews")),
    )
    op.create_index(op.f("ix_reviews_tenant_id"), "reviews", ["tenant_id"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_reviews_tenant_id"), table_name="reviews")
    op.drop_table("reviews")
