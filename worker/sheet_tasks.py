"""The whole-sheet task: a learning platform sends one scan, its cells join the batch queue.

The message (JSON, like every job)::

    {"student": "s-42", "image": "<base64 PNG/JPEG>", "layout": {"expect": "我你好", ...},
     "source": "week3.jpg" or null}

The task finds the grid, records the sheet, and sends one ordinary grading job per written
cell; it answers at once with the sheet's cells and their job ids (or the sheet's ``error``:
no grid, a grid that does not match the layout, an unreadable image). The worker that stores
the sheet's last cell scores it. ``producer.client.sheet_result`` waits for all of it.
Reading the scan is ``scans``, sending the cells ``worker.sheet_dispatch``: the worker never
imports the client side.
"""

from __future__ import annotations

import logging
from typing import Any

from hanzi_grader.scans.layout import layout_from_dict
from hanzi_grader.worker.app import GRADE_QUEUE, SHEET_TASK, app
from hanzi_grader.worker.jobs import ID_MAX_LENGTH, decode_image
from hanzi_grader.worker.sheet_dispatch import dispatch_sheet
from hanzi_grader.worker.webhooks import send_sheet_callbacks

from hanzi_grader import database
from hanzi_grader.errors import InvalidJob, TransientError
from hanzi_grader.settings import get_settings

FIELDS = {"student", "image", "layout", "source"}
logger = logging.getLogger(__name__)


@app.task(name=SHEET_TASK, queue=GRADE_QUEUE, bind=True, acks_late=True,
          autoretry_for=(TransientError,), retry_backoff=True, retry_backoff_max=120,
          max_retries=10)
def grade_sheet(self, job: Any) -> dict[str, Any]:
    """Accept a whole sheet (``job``, see the module docstring); the task id is the sheet id."""
    accepted = accept_sheet(job, sheet_id=self.request.id)
    if accepted.get("error") or not any(c.get("job_id") for c in accepted.get("cells", [])):
        # Finished already (unreadable, or nothing written): no batch will finish it.
        _call_back(self.request.id)
    return accepted


def _call_back(sheet_id: str) -> None:
    try:
        send_sheet_callbacks([sheet_id])
    except Exception:  # the sheet is recorded; a lost webhook is logged, not a failed task
        logger.exception("could not queue the webhook of sheet %s", sheet_id)


def accept_sheet(payload: Any, *, sheet_id: str) -> dict[str, Any]:
    """Analyse, record and dispatch one sheet; a plain function that tests call directly.

    A malformed message raises InvalidJob or LayoutError (the task fails with that message);
    a sheet that cannot be graded is an answer with ``error`` set, stored as a failed sheet.
    """
    if not isinstance(payload, dict):
        raise InvalidJob(f"sheet {sheet_id}: the message must be a JSON object, got "
                         f"{type(payload).__name__}")
    unknown = sorted(set(payload) - FIELDS)
    if unknown:
        raise InvalidJob(f"sheet {sheet_id}: unknown field(s) {', '.join(unknown)}")
    student = payload.get("student")
    if not isinstance(student, str) or not student.strip() or len(student) > ID_MAX_LENGTH:
        raise InvalidJob(f"sheet {sheet_id}: student must be a non-empty string of at most "
                         f"{ID_MAX_LENGTH} characters, got {student!r}")
    layout = layout_from_dict(payload.get("layout"), where=f"sheet {sheet_id}: layout")
    image = decode_image(payload.get("image"), job_id=sheet_id,
                         max_bytes=get_settings().max_image_bytes)
    source = payload.get("source") if isinstance(payload.get("source"), str) else None
    try:
        sheet = dispatch_sheet(image, student=student, layout=layout, source=source or sheet_id,
                               sheet_id=sheet_id)
    except Exception as error:
        if database.is_transient(error):
            raise TransientError(f"sheet {sheet_id}: database unreachable: {error}") from error
        raise
    return sheet.to_dict()
