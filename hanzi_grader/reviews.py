"""A person's review of a graded attempt: recording it, and the verdict that then counts.

The machine's verdict stays on the attempt; the review sits beside it (``schema.Review``) and
wins wherever a verdict is used: history, characters to practise, sheet scores.
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from hanzi_grader import sheet_records
from hanzi_grader.attempts import dialect_insert, review_to_dict
from hanzi_grader.errors import HanziError
from hanzi_grader.schema import Attempt, Review, Tenant

VERDICTS = ("correct", "wrong_character", "incomplete_or_unclear")
__all__ = ["VERDICTS", "InvalidVerdict", "NotGraded", "review_attempt", "review_to_dict",
           "reviewed_attempts"]


class InvalidVerdict(HanziError):
    """A review's verdict is not one the verifier gives."""


class NotGraded(HanziError):
    """The job has no graded attempt yet (queued, unknown, or failed): nothing to review."""


def review_attempt(*, session: Session, job_id: str, verdict: str, note: str | None,
                   reviewer: str, tenant_id: int | None = None) -> Review:
    """Store (or replace) the review of a graded job, and rescore its sheet if it has one.

    ``tenant_id``: only that tenant's attempt may be reviewed (None: any, for the CLI).
    """
    if verdict not in VERDICTS:
        raise InvalidVerdict(f"verdict must be one of {', '.join(VERDICTS)}, got {verdict!r}")
    attempt = session.scalar(select(Attempt).where(Attempt.job_id == job_id))
    if attempt is not None and tenant_id is not None and attempt.tenant_id != tenant_id:
        attempt = None  # another tenant's: as if it did not exist
    if attempt is None or attempt.status != sheet_records.DONE:
        raise NotGraded(f"job {job_id!r} has no graded result to review yet")
    # An upsert, not get-then-add: two reviews of one job at once must not make the loser's
    # request fail on the primary key; the later one wins, as with reviews made in turn.
    values = {"job_id": job_id, "tenant_id": attempt.tenant_id, "verdict": verdict,
              "note": note or None, "reviewer": reviewer, "at": datetime.now(UTC)}
    statement = dialect_insert(session, Review.__table__).values(values)
    session.execute(statement.on_conflict_do_update(
        index_elements=["job_id"], set_={k: statement.excluded[k] for k in values
                                         if k != "job_id"}))
    review = session.get(Review, job_id, populate_existing=True)
    session.expire(attempt, ["review"])  # its eagerly loaded review is now stale
    if attempt.sheet_id is not None:
        sheet_records.rescore_sheet(session=session, sheet_id=attempt.sheet_id)
    return review


def reviewed_attempts(*, session: Session, tenant: str | None = None) -> list[Attempt]:
    """Every reviewed attempt (its review loaded), the tenant named's only when given, in
    review order; an unknown tenant has none."""
    statement = select(Attempt).join(Review, Review.job_id == Attempt.job_id)
    if tenant is not None:
        statement = statement.join(Tenant, Tenant.id == Review.tenant_id).where(
            Tenant.name == tenant)
    return list(session.scalars(statement.order_by(Review.at, Attempt.job_id)))
