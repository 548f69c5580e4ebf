"""The database schema: tenants and their API keys, students, their homework sheets, the
jobs sent through the HTTP API, and every graded attempt.

These are SQLAlchemy 2.0 declarative tables. In this project "model" means a recognition
network (``models/``), so these are called the tables or the schema. ``migrations/`` is
generated from, and checked against, ``Base.metadata``.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    JSON,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Text,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

# Deterministic constraint names, so that migrations can drop what they created.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

ID_LENGTH = 64
# The tenant that owns everything sent without an API key (`producer.client`, `hanzi submit`);
# migration 0003 creates it and gives it every row that existed before tenants did.
DEFAULT_TENANT_ID = 1
# JSONB on Postgres (indexable, compact); plain JSON text elsewhere.
JsonDocument = JSON().with_variant(JSONB(), "postgresql")


class Base(DeclarativeBase):
    """Declarative base of the hanzi-grader tables."""

    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class Tenant(Base):
    """A learning platform (or one of its customers): it sees only its own jobs and students."""

    __tablename__ = "tenants"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(ID_LENGTH), unique=True)
    created_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now()
    )


class ApiKey(Base):
    """A tenant's key to the HTTP API. Only the SHA-256 of the key is stored: the key is
    random (256 bits), so a fast hash cannot be brute-forced, and lookups stay one index hit.
    ``prefix`` (the key's first characters) lets an operator tell keys apart."""

    __tablename__ = "api_keys"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id"), index=True)
    prefix: Mapped[str] = mapped_column(String(16))
    key_sha256: Mapped[str] = mapped_column(String(64), unique=True)
    rate_limit: Mapped[int | None] = mapped_column(Integer)  # requests a minute; None: default
    # Signs the webhooks of the jobs sent with this key. Kept in clear, as it must be to sign:
    # someone who reads it can forge a webhook, but not call the API.
    webhook_secret: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now()
    )
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class Student(Base):
    """A learner, known by the id the learning platform gave them."""

    __tablename__ = "students"

    id: Mapped[str] = mapped_column(String(ID_LENGTH), primary_key=True)
    created_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now()
    )


class Sheet(Base):
    """A scanned homework sheet whose cells are graded as separate attempts.

    A sheet graded as a whole (``hanzi grade-sheet``, the ``hanzi.grade_sheet`` task) is
    ``grading`` while its cells are in the queue, then ``done`` with its score, or ``failed``
    with an ``error`` when no grid matching its layout was found. ``cells_sent`` cells went to
    the queue; ``blank_cells`` ([row, column, expected] each) did not. A sheet named only by
    ``hanzi submit --sheet`` has just an id and a student.
    """

    __tablename__ = "sheets"

    id: Mapped[str] = mapped_column(String(ID_LENGTH), primary_key=True)
    tenant_id: Mapped[int] = mapped_column(
        ForeignKey("tenants.id"), server_default=text(str(DEFAULT_TENANT_ID))
    )
    student_id: Mapped[str | None] = mapped_column(ForeignKey("students.id"))
    created_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now()
    )
    source: Mapped[str | None] = mapped_column(String(1024))  # the scan's file name or origin
    layout: Mapped[dict | None] = mapped_column(JsonDocument)
    status: Mapped[str | None] = mapped_column(String(16))
    error: Mapped[str | None] = mapped_column(Text)
    cells_sent: Mapped[int | None] = mapped_column(Integer)
    blank_cells: Mapped[list | None] = mapped_column(JsonDocument)
    score: Mapped[float | None] = mapped_column(Float)  # correct cells / cells to write
    practise: Mapped[list | None] = mapped_column(JsonDocument)  # characters, weakest first
    annotated_path: Mapped[str | None] = mapped_column(String(1024))
    graded_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # A sheet posted to the HTTP API with a callback URL: where to POST it once graded, and
    # the key whose secret signs that.
    callback_url: Mapped[str | None] = mapped_column(String(2048))
    api_key_id: Mapped[int | None] = mapped_column(ForeignKey("api_keys.id"))


class Attempt(Base):
    """One graded job: what was written, what the models saw, and how long it took.

    ``status`` is ``done`` for a graded image and ``failed`` for a bad job (``error`` and
    ``error_type`` then say why). ``student_id`` is empty only for a payload so malformed
    that it named no student.
    """

    __tablename__ = "attempts"
    __table_args__ = (
        Index("ix_attempts_student_created", "student_id", "created_at"),
        Index("ix_attempts_tenant_student_created", "tenant_id", "student_id", "created_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    job_id: Mapped[str] = mapped_column(String(ID_LENGTH), unique=True)
    tenant_id: Mapped[int] = mapped_column(
        ForeignKey("tenants.id"), server_default=text(str(DEFAULT_TENANT_ID))
    )
    student_id: Mapped[str | None] = mapped_column(ForeignKey("students.id"))
    sheet_id: Mapped[str | None] = mapped_column(ForeignKey("sheets.id"))
    cell_row: Mapped[int | None] = mapped_column(Integer)
    cell_col: Mapped[int | None] = mapped_column(Integer)

    image_sha256: Mapped[str | None] = mapped_column(String(64))
    image_bytes: Mapped[int | None] = mapped_column(Integer)
    target: Mapped[str | None] = mapped_column(String(8))
    top_n: Mapped[int | None] = mapped_column(Integer)

    status: Mapped[str] = mapped_column(String(16))
    predicted: Mapped[list | None] = mapped_column(JsonDocument)  # [{"char", "confidence"}...]
    predicted_char: Mapped[str | None] = mapped_column(String(16))
    confidence: Mapped[float | None] = mapped_column(Float)
    unknown: Mapped[bool | None] = mapped_column(Boolean)
    similarity: Mapped[float | None] = mapped_column(Float)
    verdict: Mapped[str | None] = mapped_column(String(32))
    # On some incomplete verdicts: {"index", "kind", "confidence"} of the stroke left out.
    missing_stroke: Mapped[dict | None] = mapped_column(JsonDocument)
    error: Mapped[str | None] = mapped_column(Text)
    error_type: Mapped[str | None] = mapped_column(String(64))

    model_version: Mapped[str | None] = mapped_column(String(64))
    worker: Mapped[str | None] = mapped_column(String(255))
    batch_size: Mapped[int | None] = mapped_column(Integer)
    queue_ms: Mapped[float | None] = mapped_column(Float)  # submitted -> batch started
    recognize_ms: Mapped[float | None] = mapped_column(Float)  # the batch's model call

    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))  # submitted
    processed_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))

    # A teacher's override, if any; loaded with the attempt (one extra query per batch of
    # attempts, not per attempt) so that every reader can use the reviewed verdict.
    review: Mapped[Review | None] = relationship(lazy="selectin", viewonly=True)


class Review(Base):
    """A person's verdict on a graded attempt, beside (never instead of) the machine's.

    One row per job: a later review replaces the earlier one. The machine's verdict stays on
    the attempt, so both are always kept; a history of a teacher changing their mind was not
    worth a second table and an "which is current" rule in every query.
    """

    __tablename__ = "reviews"

    job_id: Mapped[str] = mapped_column(ForeignKey("attempts.job_id"), primary_key=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id"), index=True)
    verdict: Mapped[str] = mapped_column(String(32))
    note: Mapped[str | None] = mapped_column(Text)
    reviewer: Mapped[str] = mapped_column(String(255))  # "tenant/key prefix" or a CLI user
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class Job(Base):
    """A job accepted by the HTTP API, before and after it is graded: whose it is (so that
    another tenant's key gets 404), what it was (so that a repeated POST with the same job id
    is recognised), and where to say it is done. Its outcome is the attempt of the same job
    id. Jobs sent with ``producer.client`` have no row here; their attempts are the default
    tenant's."""

    __tablename__ = "jobs"

    job_id: Mapped[str] = mapped_column(String(ID_LENGTH), primary_key=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id"), index=True)
    api_key_id: Mapped[int | None] = mapped_column(ForeignKey("api_keys.id"))  # signs webhooks
    student_id: Mapped[str] = mapped_column(String(ID_LENGTH))
    image_sha256: Mapped[str] = mapped_column(String(64))
    target: Mapped[str | None] = mapped_column(String(8))
    top_n: Mapped[int] = mapped_column(Integer)
    callback_url: Mapped[str | None] = mapped_column(String(2048))
    created_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now()
    )


class WebhookDelivery(Base):
    """One try at POSTing a finished job or sheet (one of ``job_id``, ``sheet_id``) to its
    callback URL: what was answered, or why not.

    A job's (or sheet's) tries share its ``delivery_id`` (the ``Hanzi-Delivery`` header, for
    receivers to drop repeats); ``outcome`` is ``delivered``, ``retrying`` or ``failed``
    (given up, or refused: a host not on the allow-list).
    """

    __tablename__ = "webhook_deliveries"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    delivery_id: Mapped[str] = mapped_column(String(ID_LENGTH))
    job_id: Mapped[str | None] = mapped_column(ForeignKey("jobs.job_id"), index=True)
    sheet_id: Mapped[str | None] = mapped_column(ForeignKey("sheets.id"), index=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id"))
    url: Mapped[str] = mapped_column(String(2048))
    try_number: Mapped[int] = mapped_column(Integer)
    status_code: Mapped[int | None] = mapped_column(Integer)
    error: Mapped[str | None] = mapped_column(Text)
    outcome: Mapped[str] = mapped_column(String(16))
    duration_ms: Mapped[float | None] = mapped_column(Float)
    created_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now()
    )


class SheetScan(Base):
    """The scan of a sheet posted to the HTTP API, kept to draw its annotated page on request
    (in the database, not on one API host's disk, so that every API process can draw it)."""

    __tablename__ = "sheet_scans"

    sheet_id: Mapped[str] = mapped_column(ForeignKey("sheets.id"), primary_key=True)
    image: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now()
    )
