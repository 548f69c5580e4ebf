"""What the desk's pages show, worked out from a tenant's sheets: the class's figures and the
order in which a sheet's cells come up for review. Plain functions, no HTTP."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from hanzi_grader.api.sheets import SheetView
from hanzi_grader.producer.sheets.collect import CellResult, SheetResult
from hanzi_grader.producer.sheets.summary import class_weakest

from hanzi_grader import sheet_records

PENDING = (sheet_records.QUEUED, sheet_records.GRADING)
UNSURE_VERDICTS = ("incomplete_or_unclear", "unknown")  # the amber ones


@dataclass(frozen=True)
class StudentScore:
    student: str
    sheets: int  # graded sheets
    mean: float | None  # their mean score; None when none is graded


@dataclass(frozen=True)
class ClassView:
    sheets: list[SheetView]
    students: list[StudentScore]  # by name
    weakest: list[tuple[str, int]]  # the most missed characters, with how often
    pending: bool  # some sheet is still queued or grading: the page refreshes itself


@dataclass(frozen=True)
class ReviewCell:
    """A written cell as the review page lists it."""

    cell: CellResult
    counted: str  # the verdict that counts: the teacher's, else the machine's
    reasons: list[str]  # why the machine may be wrong; empty when it was sure


def class_view(sheets: Sequence[SheetView]) -> ClassView:
    graded: dict[str, list[float]] = {}
    for view in sheets:
        scores = graded.setdefault(view.result.student, [])
        if view.status == sheet_records.DONE and view.result.score is not None:
            scores.append(view.result.score)
    students = [StudentScore(name, len(scores), sum(scores) / len(scores) if scores else None)
                for name, scores in sorted(graded.items())]
    done = [v.result for v in sheets if v.status == sheet_records.DONE]
    return ClassView(list(sheets), students, class_weakest(done),
                     any(v.status in PENDING for v in sheets))


def review_queue(result: SheetResult) -> list[ReviewCell]:
    """The sheet's written cells, those the machine was unsure of first (an amber verdict, or
    the classifier's first guess disagreeing with the verifier), then by similarity to the
    target, lowest first; cells that could not be graded last. The order does not change
    when a cell is reviewed, so a teacher working down the list keeps their place."""
    written = [c for c in result.cells if c.verdict != sheet_records.BLANK]
    listed = [ReviewCell(c, c.counted_verdict, unsure_reasons(c)) for c in written]

    def order(item: ReviewCell) -> tuple:
        failed = item.cell.verdict == sheet_records.FAILED
        similarity = item.cell.similarity if item.cell.similarity is not None else -1e9
        return failed, not item.reasons, similarity, item.cell.row, item.cell.col

    return sorted(listed, key=order)


def unsure_reasons(cell: CellResult) -> list[str]:
    """Why the machine's verdict on ``cell`` may be wrong, in a teacher's words."""
    reasons = []
    if cell.verdict in UNSURE_VERDICTS:
        reasons.append("the verifier could not tell")
    if cell.predicted and cell.expected:
        read_as_target = cell.predicted == cell.expected
        if cell.verdict == "correct" and not read_as_target:
            reasons.append(f"the classifier read {cell.predicted}")
        elif cell.verdict == "wrong_character" and read_as_target:
            reasons.append(f"the classifier read {cell.expected}")
    return reasons
