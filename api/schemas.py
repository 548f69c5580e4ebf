"""The API's request and response bodies: the OpenAPI document is generated from these."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

JobStatusName = Literal["queued", "done", "failed"]


class JobSubmission(BaseModel):
    """A job as JSON: the same fields as the multipart form, the image base64-encoded."""

    model_config = ConfigDict(extra="forbid")  # a misspelt field must not pass unnoticed

    image: str = Field(description="The image file (PNG, JPEG...), base64-encoded.")
    student: str = Field(description="The student's id on your platform.")
    target: str | None = Field(default=None,
                               description="The character meant; omit to classify only.")
    top_n: int = Field(default=5, description="Candidates to return, 1..100.")
    job_id: str | None = Field(default=None, description=(
        "Your own id for the job: repeating a request with the same id returns the first "
        "answer instead of grading twice."))
    callback_url: str | None = Field(default=None, description=(
        "POSTed the result when the job is done, signed (see docs/api.md); its host must be "
        "one the operator allows."))


class JobAccepted(BaseModel):
    job_id: str
    status: JobStatusName
    status_url: str


MAX_BATCH_JOBS = 100


class JobBatch(BaseModel):
    """``POST /v1/jobs/batch``: many jobs in one request, accepted all together or not at all."""

    model_config = ConfigDict(extra="forbid")

    jobs: list[JobSubmission] = Field(min_length=1, max_length=MAX_BATCH_JOBS, description=(
        f"1..{MAX_BATCH_JOBS} jobs, each as the JSON body of POST /v1/jobs."))


class JobsAccepted(BaseModel):
    jobs: list[JobAccepted] = Field(description="One per job, in the order they were sent.")


class Candidate(BaseModel):
    char: str
    confidence: float


class MissingStroke(BaseModel):
    """The stroke an incomplete character most likely lacks (docs/missing-stroke.md)."""

    index: int = Field(description="0-based, in the standard stroke order.")
    kind: str = Field(description="横, 竖, 撇, 点, 捺, 提, 折 or 钩.")
    confidence: float


class Review(BaseModel):
    """A person's verdict on a graded job, kept beside the machine's (docs/reviews.md)."""

    verdict: Literal["correct", "wrong_character", "incomplete_or_unclear"]
    note: str | None
    reviewer: str = Field(description="Who reviewed: tenant/key prefix, or a CLI user.")
    at: str | None = Field(description="When, ISO 8601.")


class ReviewSubmission(BaseModel):
    """``POST /v1/jobs/{job_id}/review``: the verdict that should count, and why."""

    model_config = ConfigDict(extra="forbid")

    verdict: Literal["correct", "wrong_character", "incomplete_or_unclear"]
    note: str | None = Field(default=None, max_length=2000)


class JobResult(BaseModel):
    """A graded job, as `hanzi submit --json` prints it."""

    job_id: str
    student: str | None
    status: Literal["done", "failed"]
    target: str | None
    predicted: str | None
    candidates: list[Candidate] | None
    confidence: float | None
    unknown: bool | None
    similarity: float | None
    verdict: str | None = Field(description="The machine's verdict (a review never changes it).")
    review: Review | None = Field(default=None, description="A person's override, if any.")
    missing_stroke: MissingStroke | None = None
    error: str | None
    error_type: str | None
    sheet_id: str | None = None
    cell: list[int] | None = None
    image_sha256: str | None = None
    model_version: str | None = None
    batch_size: int | None = None
    queue_ms: float | None = None
    recognize_ms: float | None = None
    created_at: str | None = None
    processed_at: str | None = None


class JobStatus(BaseModel):
    job_id: str
    status: JobStatusName
    result: JobResult | None


class CharacterStats(BaseModel):
    char: str
    attempts: int
    correct: int
    accuracy: float


class MissedStroke(BaseModel):
    char: str
    index: int
    count: int


class MissedStrokes(BaseModel):
    """The strokes of one kind a student left out, the most often first."""

    kind: str
    count: int
    strokes: list[MissedStroke]


class History(BaseModel):
    """A student's attempts, as `hanzi history --json` prints them (this tenant's only)."""

    student: str
    attempt_count: int
    graded_count: int
    failed_count: int
    attempts: list[JobResult]
    per_character: list[CharacterStats]
    weakest: list[CharacterStats]
    missed_strokes: list[MissedStrokes] = []


class Readiness(BaseModel):
    ready: bool
    checks: dict[str, Any]


class ProblemDocument(BaseModel):
    """RFC 9457: every error answer."""

    type: str = "about:blank"
    title: str
    status: int
    detail: str


class SheetSubmission(BaseModel):
    """A sheet as JSON: the scan base64-encoded, and its layout."""

    model_config = ConfigDict(extra="forbid")

    image: str | None = Field(default=None, description="The scan, base64-encoded.")
    student: str | None = Field(default=None, description="The student's id.")
    expect: str | None = Field(default=None, description="A character per row.")
    layout: dict[str, Any] | None = Field(default=None, description=(
        "The layout's settings, as in a layout file (expect or cells, columns, grid, "
        "model_columns...)."))
    source: str | None = Field(default=None, description="A name for the scan.")
    callback_url: str | None = Field(default=None, description=(
        "POSTed the graded sheet (event sheet.finished), signed; its host must be one the "
        "operator allows."))


class SheetAccepted(BaseModel):
    sheet_id: str
    status: Literal["queued", "grading", "done", "failed"]
    status_url: str


class SheetCell(BaseModel):
    row: int
    col: int
    expected: str | None
    verdict: str
    predicted: str | None
    similarity: float | None
    error: str | None = None
    job_id: str | None = Field(default=None, description="The cell's job: review it by this id.")
    review: Review | None = Field(default=None, description="A person's override, if any.")


class SheetStatus(BaseModel):
    """A sheet as `hanzi grade-sheet --json` prints it, with its status; ``annotated`` is the
    URL of its marked-up page once graded."""

    sheet_id: str
    status: Literal["queued", "grading", "done", "failed"]
    sheet: str
    student: str
    score: float | None
    error: str | None
    cells: list[SheetCell]
    practise: list[str]
    annotated: str | None
