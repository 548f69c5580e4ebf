"""``hanzi submit``, ``hanzi history`` and ``hanzi demo``: the producer's command line."""

from __future__ import annotations

import hashlib
import subprocess
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import click
from hanzi_grader.producer.cli_shared import IMAGE_SUFFIXES, fail, guarded, image_files
from hanzi_grader.producer.workers import queued_jobs, running_worker, workers_running

from hanzi_grader.console import echo_json, echo_json_lines, progress
from hanzi_grader.settings import PACKAGE_ROOT, get_settings, redact_url

EXAMPLES_DIR = PACKAGE_ROOT / "examples"
DEMO_SHEET = EXAMPLES_DIR / "sheets" / "li-ming_week3.jpg"
DEMO_SHEET_LAYOUT = EXAMPLES_DIR / "sheets" / "week3.layout.toml"
DEMO_STUDENT = "demo-student"


@click.command()
@click.argument("paths", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("-s", "--student", required=True, help="The student's id.")
@click.option("-t", "--target", default=None,
              help="The character the student meant to write (verify); omit to classify.")
@click.option("-n", "--top-n", type=click.IntRange(1, 100), default=5, show_default=True,
              help="Candidates to keep per image.")
@click.option("--sheet", default=None, help="The homework sheet the images come from.")
@click.option("--job-id", default=None,
              help="Your own job id (one image only): the same id twice is graded once.")
@click.option("-w", "--wait", is_flag=True, help="Wait for the results and print them.")
@click.option("--timeout", type=float, default=120.0, show_default=True,
              help="Seconds to wait for all results, with --wait.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of text.")
def submit(paths: tuple[Path, ...], student: str, target: str | None, top_n: int,
           sheet: str | None, job_id: str | None, wait: bool, timeout: float,
           as_json: bool) -> None:
    """Submit image files (or folders of them) as grading jobs for STUDENT.

    Each image is one character. Folders are searched recursively; images in them that look
    like whole practice sheets (a ruled grid of cells) are skipped, with a note on stderr:
    grade those with `hanzi grade-sheet`. With --wait and no worker running, the embedded
    setup starts one for this command; on a real broker the command says so and stops.
    """
    files = guarded(lambda: character_files(paths))
    if job_id is not None and len(files) != 1:
        fail(f"--job-id names one job, but {len(files)} images were given")
    if not wait:
        job_ids = guarded(lambda: _submit_files(files, student=student, target=target,
                                                 top_n=top_n, sheet=sheet, job_id=job_id))
        _print_submitted(files, job_ids, as_json=as_json)
        return
    from hanzi_grader.producer.workers import grading_workers

    from hanzi_grader import database

    log_path = get_settings().home / "worker.log"

    def grade() -> list[dict[str, Any]]:
        database.upgrade_embedded()  # a worker started here does not migrate
        with grading_workers(log_path) as worker_process:
            job_ids = _submit_files(files, student=student, target=target, top_n=top_n,
                                    sheet=sheet, job_id=job_id)
            return _collect(job_ids, timeout=timeout, worker=worker_process, log_path=log_path)

    _print_results(files, guarded(grade), as_json=as_json)


@click.command()
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
def status(as_json: bool) -> None:
    """Where jobs go, which workers consume them and how many wait without a result."""
    settings = get_settings()
    data = guarded(lambda: {
        "broker": redact_url(settings.effective_broker_url),
        "database": redact_url(settings.effective_database_url),
        "workers": workers_running(),
        "queued": queued_jobs(),
    })
    if as_json:
        echo_json(data)
        return
    click.echo(f"broker    {data['broker']}\ndatabase  {data['database']}")
    click.echo(f"workers   {', '.join(data['workers']) or 'none: start one with `hanzi worker`'}")
    click.echo(f"queued    {data['queued']} job(s) waiting for a worker")


@click.command()
@click.argument("student")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
def history(student: str, as_json: bool) -> None:
    """Show STUDENT's attempts over time, accuracy per character, and what to practise next."""
    data = guarded(lambda: _history(student))
    if as_json:
        echo_json(data)
    else:
        click.echo(format_history(data))


@click.command()
@click.argument("images", nargs=-1, type=click.Path(path_type=Path))
@click.option("-s", "--student", default=DEMO_STUDENT, show_default=True)
@click.option("--timeout", type=float, default=300.0, show_default=True,
              help="Seconds to wait for the worker to grade everything.")
def demo(images: tuple[Path, ...], student: str, timeout: float) -> None:
    """Run the whole path: start a worker, grade the example images, print the history, then
    grade a scanned practice sheet (examples/sheets) and print its score.

    Uses examples/*.png unless IMAGES are given. Runs on the embedded SQLite broker and
    database unless HANZI_BROKER_URL / HANZI_DATABASE_URL point at Redis and Postgres.
    """
    from hanzi_grader.models.bundle import load_manifest

    from hanzi_grader import database

    settings = get_settings()
    examples = sorted(p for p in EXAMPLES_DIR.glob("*") if p.suffix.lower() in IMAGE_SUFFIXES)
    files = guarded(lambda: image_files(images or examples))
    click.echo(f"broker {redact_url(settings.effective_broker_url)}, "
               f"database {redact_url(settings.effective_database_url)}")
    guarded(database.upgrade)
    log_path = settings.home / "demo-worker.log"
    with running_worker(log_path) as worker_process:
        click.echo(f"worker started (pid {worker_process.pid}, log {log_path}); "
                   f"submitting {len(files)} images for {student}")
        version = guarded(lambda: load_manifest(settings.model_dir).version)
        job_ids = guarded(lambda: [
            _submit_files([path], student=student, target=target_from_name(path),
                          job_id=demo_job_id(student, version, path))[0]
            for path in files
        ])
        outcomes = guarded(lambda: _collect(job_ids, timeout=timeout, worker=worker_process,
                                             log_path=log_path))
        click.echo()
        _print_results(files, outcomes, as_json=False)
        click.echo()
        click.echo(format_history(guarded(lambda: _history(student))))
        click.echo()
        _demo_sheet(settings.home / "demo-sheets", timeout, worker_process, log_path)


def demo_job_id(student: str, version: str, path: Path) -> str:
    """One job id per student, model version and image content: a second demo is answered
    from the stored attempts instead of adding the same attempts to the history every time.
    A digest, because names and versions together outgrow the 64 characters a job id may have."""
    digest = hashlib.sha256(f"{student}\0{version}\0".encode() + path.read_bytes())
    return f"demo-{digest.hexdigest()[:32]}"


def _demo_sheet(out: Path, timeout: float, worker: subprocess.Popen, log_path: Path) -> None:
    """Grade the example practice sheet through the same worker; print its score."""
    from hanzi_grader.producer.sheets.cli import grade_files
    from hanzi_grader.scans.layout import load_layout

    scan, layout = DEMO_SHEET, load_layout(DEMO_SHEET_LAYOUT)
    student = scan.stem.split("_")[0]
    click.echo(f"grading the practice sheet {scan.name} ({layout.describe()}) for {student}")
    [result] = guarded(lambda: grade_files([scan], {scan: student}, layout, out, timeout,
                                       as_json=False))
    if worker.poll() is not None:
        raise click.ClickException(f"the worker exited with code {worker.returncode}; "
                                   f"see {log_path}")
    if result.error is not None:
        raise click.ClickException(result.error)
    click.echo(f"sheet {scan.name}: score {result.score:.0%} ({result.correct} of "
               f"{len(result.cells)} cells correct); practise: {' '.join(result.practise)}")
    click.echo(f"annotated sheet: {result.annotated}")


# -- submitting and waiting --------------------------------------------------------------


def character_files(paths: Sequence[Path]) -> list[Path]:
    """``image_files(paths)`` without the images in folders that look like whole sheets.

    Each one skipped is named on stderr; a file named on the command line is kept, with a
    warning when it looks like a sheet. Nothing left is a usage error.
    """
    named = {path for path in paths if not path.is_dir()}
    files = []
    for path in image_files(paths):
        grid = sheet_grid(path)
        if grid is None:
            files.append(path)
        elif path in named:
            files.append(path)
            click.echo(f"Warning: {path} looks like a practice sheet ({grid}), not one "
                       f"character; `hanzi grade-sheet` grades sheets", err=True)
        else:
            click.echo(f"skipped {path}: looks like a practice sheet ({grid}); grade it with "
                       f"`hanzi grade-sheet`, or name the file to submit it anyway", err=True)
    if not files:
        raise click.UsageError("no character images to submit (only practice sheets)")
    return files


SHEET_MIN_SIDE = 120  # pixels: smaller images are never probed for a grid
SHEET_MIN_CELLS = 6
SHEET_MIN_PITCH = 16  # pixels: a "grid" finer than this is a character's strokes


def sheet_grid(path: Path) -> str | None:
    """"R rows x C columns" when the image at ``path`` holds a ruled grid of at least
    SHEET_MIN_CELLS cells (a practice sheet, not one character), else None."""
    from PIL import Image

    try:
        with Image.open(path) as image:
            if max(image.size) < SHEET_MIN_SIDE:
                return None
        import numpy as np
        from hanzi_grader.scans.grid import find_grid
        from hanzi_grader.scans.paper import Page

        with np.errstate(all="ignore"):  # strokes make degenerate "lines": no warnings
            grid = find_grid(Page.open(path))
    except Exception:  # unreadable, or no grid (the finder fails in many ways on strokes)
        return None
    if grid.rows * grid.columns < SHEET_MIN_CELLS or grid.pitch < SHEET_MIN_PITCH:
        return None
    return grid.describe()


def target_from_name(path: Path) -> str | None:
    """The target character a file name announces (``永.png``, ``03_永.png``), if any."""
    from hanzi_grader.models.charset import is_known

    last = path.stem.replace("-", "_").split("_")[-1]
    return last if is_known(last) else None


def _submit_files(files: Sequence[Path], *, student: str, target: str | None, top_n: int = 5,
                  sheet: str | None = None, job_id: str | None = None) -> list[str]:
    from hanzi_grader.producer import client

    client.check_broker()
    with progress(total=len(files), unit="image", min_items=10, desc="submitting") as bar:
        return client.submit_many(files, student=student, target=target, top_n=top_n,
                                  sheet=sheet, job_ids=[job_id] if job_id else None,
                                  on_submitted=lambda _: bar.update())


def _collect(job_ids: Sequence[str], *, timeout: float,
             worker: subprocess.Popen | None = None,
             log_path: Path | None = None) -> list[dict[str, Any]]:
    from hanzi_grader.producer import client

    deadline = time.monotonic() + timeout
    outcomes = []
    with progress(total=len(job_ids), unit="job", min_items=10, desc="grading") as bar:
        for job_id in job_ids:
            while True:
                try:
                    outcomes.append(client.result(job_id, timeout=1.0))
                    break
                except client.ResultTimeout:
                    if worker is not None and worker.poll() is not None:
                        raise click.ClickException(
                            f"the worker exited with code {worker.returncode}; see {log_path}"
                        ) from None
                    if time.monotonic() > deadline:
                        raise click.ClickException(
                            f"job {job_id}: no result after {timeout:g} s") from None
            bar.update()
    return outcomes


# -- history -----------------------------------------------------------------------------


def _history(student: str) -> dict[str, Any]:
    from hanzi_grader import attempts, database

    database.upgrade_embedded()
    with database.transaction() as session:
        return attempts.student_history(session=session, student=student).to_dict()


def format_history(data: dict[str, Any]) -> str:
    """A student's history as text: attempts, accuracy per character, weakest characters."""
    lines = [f"student {data['student']}: {data['attempt_count']} attempts "
             f"({data['failed_count']} failed)"]
    for attempt in data["attempts"]:
        lines.append(f"  {attempt['created_at'][:19].replace('T', ' ')}  "
                     f"{describe(attempt)}")
    if data["per_character"]:
        lines.append("accuracy per character:")
        lines += [f"  {s['char']}  {s['correct']}/{s['attempts']}  {s['accuracy']:.0%}"
                  for s in data["per_character"]]
    if data["weakest"]:
        lines.append("practise next: " + " ".join(s["char"] for s in data["weakest"]))
    if data.get("missed_strokes"):
        lines.append("strokes most often left out:")
        lines += [f"  {m['kind']}  {m['count']}x: " + ", ".join(
            f"{s['char']} stroke {s['index'] + 1} ({s['count']}x)" for s in m["strokes"])
            for m in data["missed_strokes"]]
    return "\n".join(lines)


# -- printing ----------------------------------------------------------------------------


def describe(outcome: dict[str, Any]) -> str:
    """One line for one job's result."""
    if outcome.get("status") != "done":
        return f"failed  {outcome.get('error_type')}: {outcome.get('error')}"
    candidates = outcome.get("candidates") or []
    shown = ", ".join(f"{c['char']} {c['confidence']:.1%}" for c in candidates[:3])
    text = f"{outcome.get('predicted') or '?'}  [{shown}]"
    if outcome.get("unknown"):
        text += "  (unknown)"
    if outcome.get("target"):
        similarity = outcome.get("similarity")
        text += f"  target {outcome['target']}: {outcome.get('verdict')}"
        if similarity is not None:
            text += f" (similarity {similarity:.3f})"
        missing = outcome.get("missing_stroke")
        if missing:
            text += f", missing stroke {missing['index'] + 1} {missing['kind']}"
        review = outcome.get("review")
        if review:  # the verdict that counts in the totals
            text += f"; reviewed {review['verdict']} by {review['reviewer']}"
    return text


def _print_submitted(files: Sequence[Path], job_ids: Sequence[str], *, as_json: bool) -> None:
    if as_json:
        echo_json_lines({"path": str(f), "job_id": j} for f, j in zip(files, job_ids, strict=True))
    else:
        for path, job_id in zip(files, job_ids, strict=True):
            click.echo(f"{job_id}  {path}")


def _print_results(files: Sequence[Path], outcomes: Sequence[dict], *, as_json: bool) -> None:
    if as_json:
        echo_json_lines({"path": str(f)} | o for f, o in zip(files, outcomes, strict=True))
    else:
        width = max(len(f.name) for f in files)
        for path, outcome in zip(files, outcomes, strict=True):
            click.echo(f"{path.name:<{width}}  {describe(outcome)}")


# -- errors ------------------------------------------------------------------------------
