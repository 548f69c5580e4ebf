"""Sheets through the real queue: a folder of scans in, Postgres rows and marked-up pages out."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
from hanzi_grader.producer.sheets.annotate import VERDICT_COLOURS, header_height, outline_middle
from hanzi_grader.scans.analysis import analyse_sheet
from hanzi_grader.scans.layout import layout_from_expect
from hanzi_grader.scans.paper import Page
from PIL import Image
from sqlalchemy import create_engine, text

from tests.integration.conftest import ROOT, hanzi
from tests.producer.sheets.conftest import make_sheet
from tests.training.conftest import stroke_data  # noqa: F401  (the shared fixture)

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("stroke_data")]

EXPECT = "永水人"
STATUS_COLOURS = {"failed": VERDICT_COLOURS["failed"]}


@pytest.fixture(scope="module")
def sheet_rows(postgres_url):
    engine = create_engine(postgres_url)

    def query(where: str, **params) -> list[dict]:
        with engine.connect() as connection:
            found = connection.execute(text(f"SELECT * FROM sheets WHERE {where}"), params)
            return [dict(row._mapping) for row in found]

    yield query
    engine.dispose()


def write_folder(folder):
    """Three good sheets of students s1..s3, one page without a grid, one with 4 rows."""
    folder.mkdir()
    truths = {}
    for i in range(3):
        sheet = make_sheet(40 + i, rows=3, columns=5, expect=EXPECT, level=0.3 * i,
                           cell_px=56 + 20 * i, models=(0,) if i == 1 else ())
        name = f"s{i + 1}_week3.png"
        Image.fromarray(sheet.image).save(folder / name)
        truths[name] = sheet.truth
    Image.new("RGB", (700, 500), (248, 248, 244)).save(folder / "s4_photo.png")
    four_rows = make_sheet(50, rows=4, columns=5, expect=EXPECT + "大", level=0.2)
    Image.fromarray(four_rows.image).save(folder / "s5_week3.png")
    return truths


def test_a_folder_of_sheets_ends_in_postgres_with_annotated_pages(
        worker, service_env, rows, sheet_rows, tmp_path):
    # Given a folder of five scans, two of which cannot be graded
    truths = write_folder(tmp_path / "scans")
    out = tmp_path / "graded"

    # When a teacher grades the folder
    done = hanzi("grade-sheet", str(tmp_path / "scans"), "--expect", EXPECT, "--out", str(out),
                 "--json", env=service_env, check=False, timeout=300)

    # Then the bad sheets fail alone, with a clear message, and the rest are graded
    assert done.returncode == 1
    results = {result["sheet"].split("/")[-1]: result
               for result in map(json.loads, done.stdout.splitlines())}
    assert set(results) == {*truths, "s4_photo.png", "s5_week3.png"}
    assert "s4_photo.png: no grid found" in results["s4_photo.png"]["error"]
    assert ("found a grid of 4 rows x 5 columns, but the layout expects 3 rows"
            in results["s5_week3.png"]["error"])
    assert "s5_week3.png: found a grid of 4 rows" in done.stderr
    for name, truth in truths.items():
        result = results[name]
        assert result["error"] is None and result["student"] == name.split("_")[0]
        expected_blank = {(c["row"], c["col"]) for c in truth["cells"] if c["kind"] == "blank"}
        found_blank = {(c["row"], c["col"]) for c in result["cells"] if c["verdict"] == "blank"}
        assert found_blank == expected_blank
        assert {c["expected"] for c in result["cells"]} == set(EXPECT)

    # And Postgres holds one sheet row per scan, one attempt per written cell
    for name, result in results.items():
        [sheet] = sheet_rows("id = :id", id=result["sheet_id"])
        assert sheet["source"].endswith(name)
        if result["error"] is not None:
            assert (sheet["status"], sheet["error"]) == ("failed", result["error"])
            continue
        assert sheet["status"] == "done" and sheet["score"] == result["score"]
        written = [c for c in result["cells"] if c["verdict"] != "blank"]
        attempts = rows("sheet_id = :id", id=result["sheet_id"])
        assert len(attempts) == len(written) == sheet["cells_sent"]
        assert {(a["cell_row"], a["cell_col"]) for a in attempts} == {
            (c["row"], c["col"]) for c in written}
        assert all(a["student_id"] == result["student"] for a in attempts)
        assert all(a["target"] == EXPECT[a["cell_row"]] for a in attempts)

        # And its annotated page outlines each cell in the colour of its stored verdict
        annotated = Image.open(result["annotated"]).convert("RGB")
        assert sheet["annotated_path"] == result["annotated"]
        stored = {(a["cell_row"], a["cell_col"]): a["verdict"] or a["status"] for a in attempts}
        stored |= {(c["row"], c["col"]): "blank" for c in result["cells"]
                   if c["verdict"] == "blank"}
        assert_colours(annotated, tmp_path / "scans" / name, stored)
    assert (out / "summary.csv").is_file() and (out / "overview.pdf").is_file()


def assert_colours(annotated: Image.Image, scan_path, stored: dict) -> None:
    page = Page.open(scan_path)
    analysis = analyse_sheet(page, layout_from_expect(EXPECT))
    pixels = np.asarray(annotated)
    header = header_height(page.shape[1])
    for cell in analysis.cells:
        if not cell.spec.graded:
            continue
        verdict = stored[cell.spec.row, cell.spec.col]
        ring = outline_middle(cell.quad, analysis.grid.pitch)
        x, y = ((ring[0] + ring[1]) / 2).round().astype(int)  # middle of the top side
        colour = tuple(int(v) for v in pixels[y + header, x])
        assert colour == VERDICT_COLOURS.get(verdict, STATUS_COLOURS.get(verdict)), (
            cell.spec, verdict)


def test_a_learning_platform_sends_a_whole_sheet_and_gets_its_grades(worker, service_env,
                                                                     sheet_rows, tmp_path):
    sheet = make_sheet(60, rows=2, columns=4, expect="永水", level=0.4)
    path = tmp_path / "upload.png"
    Image.fromarray(sheet.image).save(path)
    script = (
        "import json, sys\n"
        "from hanzi_grader.producer import client\n"
        "sheet_id = client.submit_sheet(sys.argv[1], student='platform-1',\n"
        "                               layout={'expect': '永水', 'columns': 4})\n"
        "print(json.dumps(client.sheet_result(sheet_id, timeout=120), ensure_ascii=False))\n"
    )

    done = subprocess.run([sys.executable, "-c", script, str(path)], env=service_env, cwd=ROOT,
                          capture_output=True, text=True, timeout=180, check=True)

    result = json.loads(done.stdout)
    assert result["error"] is None and result["student"] == "platform-1"
    assert len(result["cells"]) == 8
    blank = {(c["row"], c["col"]) for c in sheet.truth["cells"] if c["kind"] == "blank"}
    assert {(c["row"], c["col"]) for c in result["cells"] if c["verdict"] == "blank"} == blank
    [stored] = sheet_rows("id = :id", id=result["sheet_id"])
    assert stored["status"] == "done" and stored["score"] == result["score"]
