"""``GET /v1/students/{student}/history``."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from hanzi_grader.api.deps import Owner
from hanzi_grader.api.routes.jobs import PROBLEMS
from hanzi_grader.api.schemas import History

from hanzi_grader import attempts, database

router = APIRouter(prefix="/v1/students", tags=["students"])


@router.get("/{student}/history", response_model=History, responses=PROBLEMS)
def student_history(student: str, owner: Owner) -> dict[str, Any]:
    """The student's attempts (this tenant's), accuracy per character, what to practise."""
    with database.transaction() as session:
        return attempts.student_history(session=session, student=student,
                                        tenant_id=owner.tenant_id).to_dict()
