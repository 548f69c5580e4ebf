"""Tenants, their API keys, the jobs sent through the HTTP API and their webhook deliveries,
the scans of sheets posted to it; attempts and sheets belong to a tenant.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-04 15:00:00

An existing database keeps working: the default tenant (id 1) is created first, and every
attempt and sheet already stored becomes its (``server_default``), as do the rows that
``producer.client`` goes on sending without a tenant.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | Sequence[str] | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

DEFAULT_TENANT_ID = 1  # hanzi_grader.schema.DEFAULT_TENANT_ID, frozen as of this revision
DEFAULT_TENANT_NAME = "default"


def upgrade() -> None:
    tenants = op.create_table(
        "tenants",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_tenants")),
        sa.UniqueConstraint("name", name=op.f("uq_tenants_name")),
    )
    op.bulk_insert(tenants, [{"id": DEFAULT_TENANT_ID, "name": DEFAULT_TENANT_NAME}])
    if op.get_bind().dialect.name == "postgresql":
        # The row above was inserted with its id: move the sequence past it.
        op.execute("SELECT setval(pg_get_serial_sequence('tenants', 'id'), "
                   "(SELECT max(id) FROM tenants))")
    op.create_table(
        "api_keys",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("tenant_id", sa.Integer(), nullable=False),
        sa.Column("prefix", sa.String(length=16), nullable=False),
        sa.Column("key_sha256", sa.String(length=64), nullable=False),
        sa.Column("rate_limit", sa.Integer(), nullable=True),
        sa.Column("webhook_secret", sa.String(length=64), nullable=False),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_api_keys_tenant_id_tenants")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_api_keys")),
        sa.UniqueConstraint("key_sha256", name=op.f("uq_api_keys_key_sha256")),
    )
    op.create_index(op.f("ix_api_keys_tenant_id"), "api_keys", ["tenant_id"], unique=False)
    op.create_table(
        "jobs",
        sa.Column("job_id", sa.String(length=64), nullable=False),
        sa.Column("tenant_id", sa.Integer(), nullable=False),
        sa.Column("api_key_id", sa.Integer(), nullable=True),
        sa.Column("student_id", sa.String(length=64), nullable=False),
        sa.Column("image_sha256", sa.String(length=64), nullable=False),
        sa.Column("target", sa.String(length=8), nullable=True),
        sa.Column("top_n", sa.Integer(), nullable=False),
        sa.Column("callback_url", sa.String(length=2048), nullable=True),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_jobs_tenant_id_tenants")
        ),
        sa.ForeignKeyConstraint(
            ["api_key_id"], ["api_keys.id"], name=op.f("fk_jobs_api_key_id_api_keys")
        ),
        sa.PrimaryKeyConstraint("job_id", name=op.f("pk_jobs")),
    )
    op.create_index(op.f("ix_jobs_tenant_id"), "jobs", ["tenant_id"], unique=False)
    op.create_table(
        "webhook_deliveries",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("delivery_id", sa.String(length=64), nullable=False),
        sa.Column("job_id", sa.String(length=64), nullable=True),
        sa.Column("sheet_id", sa.String(length=64), nullable=True),
        sa.Column("tenant_id", sa.Integer(), nullable=False),
        sa.Column("url", sa.String(length=2048), nullable=False),
        sa.Column("try_number", sa.Integer(), nullable=False),
        sa.Column("status_code", sa.Integer(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("outcome", sa.String(length=16), nullable=False),
        sa.Column("duration_ms", sa.Float(), nullable=True),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.ForeignKeyConstraint(
            ["job_id"], ["jobs.job_id"], name=op.f("fk_webhook_deliveries_job_id_jobs")
        ),
        sa.ForeignKeyConstraint(
            ["sheet_id"], ["sheets.id"], name=op.f("fk_webhook_deliveries_sheet_id_sheets")
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_webhook_deliveries_tenant_id_tenants")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_webhook_deliveries")),
    )
    op.create_index(op.f("ix_webhook_deliveries_job_id"), "webhook_deliveries", ["job_id"],
                    unique=False)
    for table in ("attempts", "sheets"):
        # Batch mode: SQLite cannot add a foreign key in place; Postgres runs ALTER TABLE.
        # The server default fills the existing rows, so NOT NULL holds at once.
        with op.batch_alter_table(table) as batch:
            batch.add_column(sa.Column("tenant_id", sa.Integer(), nullable=False,
                                       server_default=sa.text(str(DEFAULT_TENANT_ID))))
            batch.create_foreign_key(op.f(f"fk_{table}_tenant_id_tenants"), "tenants",
                                     ["tenant_id"], ["id"])
    op.create_index("ix_attempts_tenant_student_created", "attempts",
                    ["tenant_id", "student_id", "created_at"], unique=False)
    with op.batch_alter_table("sheets") as batch:
        batch.add_column(sa.Column("callback_url", sa.String(length=2048), nullable=True))
        batch.add_column(sa.Column("api_key_id", sa.Integer(), nullable=True))
        batch.create_foreign_key(op.f("fk_sheets_api_key_id_api_keys"), "api_keys",
                                 ["api_key_id"], ["id"])
    op.create_index(op.f("ix_webhook_deliveries_sheet_id"), "webhook_deliveries",
                    ["sheet_id"], unique=False)
    op.create_table(
        "sheet_scans",
        sa.Column("sheet_id", sa.String(length=64), nullable=False),
        sa.Column("image", sa.LargeBinary(), nullable=False),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.ForeignKeyConstraint(
            ["sheet_id"], ["sheets.id"], name=op.f("fk_sheet_scans_sheet_id_sheets")
        ),
        sa.PrimaryKeyConstraint("sheet_id", name=op.f("pk_sheet_scans")),
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_webhook_deliveries_sheet_id"), table_name="webhook_deliveries")
    with op.batch_alter_table("sheets") as batch:
        batch.drop_constraint("fk_sheets_api_key_id_api_keys", type_="foreignkey")
        batch.drop_column("api_key_id")
        batch.drop_column("callback_url")
    op.drop_table("sheet_scans")
    op.drop_index("ix_attempts_tenant_student_created", table_name="attempts")
    for table in ("sheets", "attempts"):
        with op.batch_alter_table(table) as batch:
            batch.drop_constraint(f"fk_{table}_tenant_id_tenants", type_="foreignkey")
            batch.drop_column("tenant_id")
    op.drop_index(op.f("ix_webhook_deliveries_job_id"), table_name="webhook_deliveries")
    op.drop_table("webhook_deliveries")
    op.drop_index(op.f("ix_jobs_tenant_id"), table_name="jobs")
    op.drop_table("jobs")
    op.drop_index(op.f("ix_api_keys_tenant_id"), table_name="api_keys")
    op.drop_table("api_keys")
    op.drop_table("tenants")
