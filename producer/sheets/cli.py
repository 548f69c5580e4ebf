"""``hanzi grade-sheet`` (a folder of scans in, grades and marked-up pages out) and
``hanzi make-sheets`` (synthetic scanned sheets with their ground truth)."""

from __future__ import annotations

import csv
import dataclasses
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import click
from hanzi_grader.producer.cli_shared import guarded, image_files
from hanzi_grader.scans.layout import (
    GRID_STYLES,
    Layout,
    LayoutError,
    layout_from_expect,
    load_layout,
)

from hanzi_grader.console import echo_json

# Files our own output puts beside the scans: never graded as sheets.
OUTPUT_SUFFIXES = (".annotated.png",)
OUTPUT_NAMES = {"overview.png", "overview.pdf"}


@click.command("grade-sheet")
@click.argument("paths", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--layout", "layout_file", type=click.Path(path_type=Path),
              help="Layout file (.toml or .json): rows, columns, expected characters, models.")
@click.option("--expect", default=None,
              help='Expected characters, one per row in order: --expect "我你好".')
@click.option("--columns", type=click.IntRange(1, 64), default=None,
              help="With --expect: the columns of the grid [default: as found].")
@click.option("--model-column", "model_columns", type=click.IntRange(0, 63), multiple=True,
              help="With --expect: a column (from 0) printed with model characters; repeatable.")
@click.option("--grid", type=click.Choice(GRID_STYLES), default=None,
              help="Guide lines in each cell [default: the layout's, else auto].")
@click.option("-s", "--student", default=None, help="The student of every sheet.")
@click.option("--students", "students_csv", type=click.Path(path_type=Path), default=None,
              help="CSV of file,student: whose each sheet is.")
@click.option("-o", "--out", type=click.Path(path_type=Path), default=Path("graded"),
              show_default=True, help="Folder for annotated sheets, summary.csv, overview.")
@click.option("--timeout", type=float, default=600.0, show_default=True,
              help="Seconds to wait for all results.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object per sheet.")
def grade_sheet(paths: tuple[Path, ...], layout_file: Path | None, expect: str | None,
                columns: int | None, model_columns: tuple[int, ...], grid: str | None,
                student: str | None, students_csv: Path | None, out: Path, timeout: float,
                as_json: bool) -> None:
    """Grade scanned practice sheets: every written cell against its expected character.

    PATHS are scans or folders of them. Without --student or --students, a sheet's student is
    its file name up to the first underscore (s042_week3.png: s042). Each sheet's cells go
    through the queue like any other job: with no worker running, the embedded setup starts
    one for this command, and on a real broker the command says so and stops. Writes an annotated
    image per sheet, summary.csv and overview.png/.pdf into --out. A sheet that cannot be
    graded (no grid, or a grid that does not match the layout) is reported and skipped; the
    exit status is then 1.
    """
    layout = _layout(layout_file, expect, columns, model_columns, grid)
    files = sheet_files(paths, out)
    students = _students(files, student, students_csv)
    results = guarded(lambda: _grade_with_a_worker(files, students, layout, out, timeout,
                                                     as_json))
    from hanzi_grader.producer.sheets.summary import write_csv, write_overview

    csv_path = write_csv(results, out / "summary.csv")
    png, _pdf = write_overview(results, out)
    if not as_json:
        for result in results:
            click.echo(describe_sheet(result))
        click.echo(f"class summary: {csv_path}, {png}")
    failed = [r for r in results if r.error is not None]
    for result in failed:
        click.echo(f"Error: {result.error}", err=True)
    if failed:
        sys.exit(1)


@click.command("make-sheets")
@click.argument("folder", type=click.Path(path_type=Path))
@click.option("-n", "--count", type=click.IntRange(1, 10_000), default=10, show_default=True)
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--level", "levels", type=click.FloatRange(0, 1), nargs=2, default=(0.0, 1.0),
              show_default=True, help="Artefact levels of the first and last sheet "
                                      "(0 clean scan .. 1 poor phone photo).")
@click.option("--layout", "layout_file", type=click.Path(path_type=Path), default=None,
              help="One layout for every sheet [default: a random layout each].")
@click.option("--expect", default=None, help="A per-row layout for every sheet.")
@click.option("--cell-px", type=click.IntRange(40, 200), default=None,
              help="Cell size in pixels [default: random, 40..200].")
def make_sheets(folder: Path, count: int, seed: int, levels: tuple[float, float],
                layout_file: Path | None, expect: str | None, cell_px: int | None) -> None:
    """Write COUNT synthetic scanned practice sheets into FOLDER, each with NAME.truth.json.

    Needs the stroke data (hanzi fetch-strokes).
    """
    from hanzi_grader.producer.sheets.generate import make_sheets as generate

    from hanzi_grader.console import progress
    from hanzi_grader.errors import HanziError

    layout = None
    if layout_file is not None or expect is not None:
        layout = _layout(layout_file, expect, None, (), None)
    try:
        with progress(total=count, unit="sheet", desc="drawing sheets") as bar:
            paths = generate(folder, count, seed=seed, level_range=levels, layout=layout,
                             cell_px=cell_px, on_written=lambda _: bar.update())
    except HanziError as error:
        raise click.ClickException(str(error)) from None
    for path in paths:
        click.echo(path)


def sheet_files(paths: Sequence[Path], out: Path | None = None) -> list[Path]:
    """The scans named by ``paths`` (folders expanded), leaving out our own output files."""
    files = image_files(paths)
    out_dir = out.resolve() if out is not None else None
    scans = [f for f in files
             if not f.name.endswith(OUTPUT_SUFFIXES) and f.name not in OUTPUT_NAMES
             and (out_dir is None or out_dir not in f.resolve().parents)]
    if not scans:
        raise click.UsageError("no scans to grade (only annotated output was found)")
    return scans


def student_from_name(path: Path) -> str:
    """The student a file name announces: the name up to the first underscore."""
    return path.stem.split("_", 1)[0] or path.stem


def describe_sheet(result) -> str:
    """One line per sheet for people."""
    name = Path(result.source).name
    if result.error is not None:
        return f"{name}  {result.student}  not graded: {result.reason}"
    score = "—" if result.score is None else f"{result.score:.0%}"
    text = f"{name}  {result.student}  score {score} ({result.correct}/{len(result.cells)})"
    if result.practise:
        text += "  practise " + " ".join(result.practise)
    if result.annotated:
        text += f"  -> {result.annotated}"
    return text


def _layout(layout_file: Path | None, expect: str | None, columns: int | None,
            model_columns: tuple[int, ...], grid: str | None) -> Layout:
    if (layout_file is None) == (expect is None):
        raise click.UsageError("give exactly one of --layout FILE and --expect CHARS")
    if layout_file is not None and (columns is not None or model_columns):
        raise click.UsageError("--columns and --model-column go with --expect; a layout file "
                               "says them itself")
    try:
        if layout_file is not None:
            layout = load_layout(layout_file)
            if grid is not None:
                layout = dataclasses.replace(layout, grid=grid)
            return layout
        return layout_from_expect(expect, columns=columns, grid=grid or "auto",
                                  model_columns=model_columns)
    except LayoutError as error:
        raise click.ClickException(str(error)) from None


def _students(files: Sequence[Path], student: str | None,
              students_csv: Path | None) -> dict[Path, str | None]:
    if student is not None and students_csv is not None:
        raise click.UsageError("give --student or --students, not both")
    if student is not None:
        return dict.fromkeys(files, student)
    if students_csv is None:
        return {f: student_from_name(f) for f in files}
    mapping = read_students(students_csv)
    return {f: mapping.get(f.name) or mapping.get(f.stem) for f in files}


def read_students(path: Path) -> dict[str, str]:
    """file -> student from a CSV with a header naming ``file`` (or ``sheet``) and ``student``."""
    try:
        with path.open(newline="", encoding="utf-8-sig") as handle:
            rows = list(csv.reader(handle))
    except OSError as error:
        raise click.ClickException(f"cannot read {str(path)!r}: {error.strerror}") from None
    if not rows:
        raise click.ClickException(f"{path}: empty; expected a header file,student")
    header = [cell.strip().lower() for cell in rows[0]]
    file_column = next((header.index(n) for n in ("file", "sheet", "path") if n in header), None)
    if file_column is None or "student" not in header:
        raise click.ClickException(f"{path}: the header must name the columns file and "
                                   f"student, got {rows[0]!r}")
    student_column = header.index("student")
    mapping = {}
    for line, row in enumerate(rows[1:], start=2):
        if not any(cell.strip() for cell in row):
            continue
        if len(row) <= max(file_column, student_column) or not row[student_column].strip():
            raise click.ClickException(f"{path}, line {line}: expected a file and a student, "
                                       f"got {row!r}")
        mapping[Path(row[file_column].strip()).name] = row[student_column].strip()
    return mapping


def _grade_with_a_worker(files: Sequence[Path], students: dict[Path, str | None],
                         layout: Layout, out: Path, timeout: float, as_json: bool) -> list:
    """``grade_files`` on a migrated embedded database, with a worker to grade the cells."""
    from hanzi_grader.producer.workers import grading_workers

    from hanzi_grader import database
    from hanzi_grader.settings import get_settings

    database.upgrade_embedded()  # a worker started here does not migrate
    with grading_workers(get_settings().home / "worker.log"):
        return grade_files(files, students, layout, out, timeout, as_json)


def grade_files(files: Sequence[Path], students: dict[Path, str | None], layout: Layout,
                out: Path, timeout: float, as_json: bool) -> list:
    """Dispatch every sheet, then collect, annotate (and with ``as_json`` print) each in turn.

    Two passes, so that the worker grades one sheet's cells while the next is being read.
    """
    from hanzi_grader.producer.sheets.collect import SheetResult, collect_sheet
    from hanzi_grader.worker.sheet_dispatch import dispatch_sheet

    from hanzi_grader.console import progress

    dispatched = []
    with progress(total=len(files), unit="sheet", desc="reading sheets") as bar:
        for path in files:
            student = students[path]
            if student is None:
                dispatched.append(SheetResult(str(path), "?", "-", error=(
                    f"{path}: no student for {path.name} in the --students file")))
            else:
                dispatched.append(dispatch_sheet(path, student=student, layout=layout,
                                                 source=str(path)))
            bar.update()
    deadline = time.monotonic() + timeout
    results = []
    names: set[str] = set()
    with progress(total=len(files), unit="sheet", desc="grading sheets") as bar:
        for path, sheet in zip(files, dispatched, strict=True):
            if isinstance(sheet, SheetResult):
                result = sheet
            else:
                result = collect_sheet(sheet, timeout=max(0.01, deadline - time.monotonic()))
                result.annotated = str(_annotate(path, sheet, result, out, names))
            if as_json:
                echo_json(result.to_dict())
            results.append(result)
            bar.update()
    return results


def _annotate(path: Path, sheet, result, out: Path, names: set[str]) -> Path:
    import numpy as np
    from hanzi_grader.producer.sheets.annotate import write_annotated
    from hanzi_grader.scans.paper import Page

    from hanzi_grader import database, sheet_records
    from hanzi_grader.errors import InvalidImage

    try:
        scan = Page.open(path).rgb
    except InvalidImage:
        scan = np.full((240, 640, 3), 255, np.uint8)  # nothing to show but the header
    name = f"{path.stem}.annotated.png"
    for index in range(2, 10_000):
        if name not in names:
            break
        name = f"{path.stem}-{index}.annotated.png"
    names.add(name)
    target = write_annotated(out / name, scan, sheet.analysis, result)
    with database.transaction() as session:
        sheet_records.set_annotated(session=session, sheet_id=sheet.sheet_id, path=str(target))
    return target
