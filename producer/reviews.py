"""``hanzi reviews set`` (a teacher's verdict from the command line) and ``hanzi reviews
export``: the reviewed cells as a labelled set for ``hanzi evaluate --set``.

Attempts keep only their image's SHA-256, so the image of a reviewed cell exists only where
its sheet's scan was kept (sheets posted to the HTTP API, ``sheet_scans``): the cell is cut
again from that scan with the sheet's layout, as the sheet task cut it. Single jobs keep no
image; they are listed in reviews.csv without a file.
"""

from __future__ import annotations

import csv
import hashlib
import os
from collections.abc import Iterable
from pathlib import Path

import click
from hanzi_grader.producer.cli_shared import guarded
from sqlalchemy.orm import Session

from hanzi_grader import database, reviews, sheet_records
from hanzi_grader.console import echo_json
from hanzi_grader.schema import Attempt, Sheet

CORRECT = "correct"
MANIFEST_COLUMNS = ["file", "char", "job_id", "machine_verdict", "teacher_verdict"]
REVIEW_COLUMNS = ["job_id", "file", "target", "machine_verdict", "teacher_verdict", "note",
                  "reviewer", "at", "sheet_id", "row", "col", "same_as_graded"]


@click.group("reviews")
def reviews_group() -> None:
    """Teachers' reviews of graded cells."""


@reviews_group.command("set")
@click.argument("job_id")
@click.argument("verdict", type=click.Choice(reviews.VERDICTS))
@click.option("--note", default=None, help="Why, for the student or a later reviewer.")
@click.option("--reviewer", default=lambda: os.environ.get("USER") or "cli", show_default="$USER",
              help="Who is reviewing.")
def set_review(job_id: str, verdict: str, note: str | None, reviewer: str) -> None:
    """Set the verdict that counts for JOB_ID (any tenant's: this is the operator's tool)."""

    def review() -> dict:
        with database.transaction() as session:
            made = reviews.review_attempt(session=session, job_id=job_id, verdict=verdict,
                                          note=note, reviewer=reviewer)
            return {"job_id": job_id, "review": reviews.review_to_dict(made)}

    echo_json(guarded(review))


@reviews_group.command("export")
@click.argument("out_dir", type=click.Path(file_okay=False, path_type=Path))
@click.option("--tenant", default=None, help="Only this tenant's reviews (default: all).")
def export(out_dir: Path, tenant: str | None) -> None:
    """Write OUT_DIR/manifest.csv (for `hanzi evaluate --set`), reviews.csv and the images."""
    summary = guarded(lambda: export_reviews(out_dir, tenant=tenant))
    echo_json(summary)


def export_reviews(out_dir: Path, *, tenant: str | None = None) -> dict[str, int | str]:
    """Export the reviewed cells; a summary of what was written and what had no image."""
    with database.transaction() as session:
        reviewed = reviews.reviewed_attempts(session=session, tenant=tenant)
        images = _cell_images(session, reviewed)
    (out_dir / "images").mkdir(parents=True, exist_ok=True)
    manifest, listed = [], []
    for attempt in reviewed:
        png = images.get(attempt.job_id)
        file = f"images/{attempt.job_id}.png" if png is not None else ""
        if png is not None:
            (out_dir / file).write_bytes(png)
        review = attempt.review
        listed.append({
            "job_id": attempt.job_id, "file": file, "target": attempt.target,
            "machine_verdict": attempt.verdict, "teacher_verdict": review.verdict,
            "note": review.note or "", "reviewer": review.reviewer, "at": review.at.isoformat(),
            "sheet_id": attempt.sheet_id or "", "row": _blank(attempt.cell_row),
            "col": _blank(attempt.cell_col), "same_as_graded": _same(attempt, png)})
        # Only a cell the teacher called correct has a known label (its target); a wrong one
        # is "not the target", which a labelled set cannot say. reviews.csv keeps them all.
        if png is not None and review.verdict == CORRECT and attempt.target:
            manifest.append({"file": file, "char": attempt.target, "job_id": attempt.job_id,
                             "machine_verdict": attempt.verdict,
                             "teacher_verdict": review.verdict})
    _write_csv(out_dir / "manifest.csv", MANIFEST_COLUMNS, manifest)
    _write_csv(out_dir / "reviews.csv", REVIEW_COLUMNS, listed)
    return {"out_dir": str(out_dir), "reviewed": len(reviewed), "images": len(images),
            "without_image": len(reviewed) - len(images), "labelled": len(manifest)}


def _cell_images(session: Session, reviewed: Iterable[Attempt]) -> dict[str, bytes]:
    # Analyse each kept scan once, for all its reviewed cells.
    from hanzi_grader.scans.analysis import analyse_sheet
    from hanzi_grader.scans.layout import layout_from_dict
    from hanzi_grader.scans.paper import Page

    by_sheet: dict[str, list[Attempt]] = {}
    for attempt in reviewed:
        if attempt.sheet_id is not None and attempt.cell_row is not None:
            by_sheet.setdefault(attempt.sheet_id, []).append(attempt)
    images: dict[str, bytes] = {}
    for sheet_id, cells in by_sheet.items():
        scan = sheet_records.sheet_scan(session=session, sheet_id=sheet_id)
        sheet = session.get(Sheet, sheet_id)
        if scan is None or sheet is None or not sheet.layout:
            continue  # graded from the command line: the scan was never stored
        analysis = analyse_sheet(Page.open(scan, name=sheet.source),
                                 layout_from_dict(sheet.layout))
        cut = {(c.spec.row, c.spec.col): c for c in analysis.cells}
        for attempt in cells:
            cell = cut.get((attempt.cell_row, attempt.cell_col))
            if cell is not None:
                images[attempt.job_id] = cell.png()
    return images


def _same(attempt: Attempt, png: bytes | None) -> str:
    # Whether the re-cut cell is byte for byte the image that was graded.
    if png is None or attempt.image_sha256 is None:
        return "unknown"
    return "yes" if hashlib.sha256(png).hexdigest() == attempt.image_sha256 else "no"


def _blank(value: int | None) -> str | int:
    return "" if value is None else value


def _write_csv(path: Path, columns: list[str], rows: list[dict]) -> None:
    with path.open("w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=columns)
        writer.writeheader()
        writer.writerows(rows)
