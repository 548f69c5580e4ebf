"""Sheets graded as a whole: recorded, then scored once their last cell is stored."""

from __future__ import annotations

from hanzi_grader import attempts, database, sheet_records
from hanzi_grader.schema import Sheet
from tests.hanzi_grader.test_attempts import row, url  # noqa: F401  (url: SQLite and Postgres)

LAYOUT = {"expect": "我你", "columns": 3}


def test_score_counts_blanks_as_misses_and_ranks_what_to_practise():
    graded = [("我", "correct"), ("我", "wrong_character"), ("你", "incomplete_or_unclear"),
              ("你", "correct"), ("好", "failed")]

    score, practise = sheet_records.score_sheet(graded, blank=["你"])

    assert score == round(2 / 6, 4)
    assert practise == ["你", "我", "好"]  # 你 missed twice, then in order of appearance
    assert sheet_records.score_sheet([], []) == (None, [])


def test_a_sheet_is_done_only_when_all_its_cells_are_stored(url):  # noqa: F811
    with database.transaction(url) as session:
        sheet_records.start_sheet(session=session, sheet_id="sheet-1", student="s1", source="a.png",
                           layout=LAYOUT, cells_sent=2, blank_cells=[[1, 2, "你"]])
        attempts.record_attempts(session=session, rows=[
            row("sheet-1-r00c00", target="我", sheet_id="sheet-1", cell_row=0, cell_col=0)])

    with database.transaction(url) as session:
        assert sheet_records.finish_sheets(session=session, sheet_ids=["sheet-1"]) == []
        attempts.record_attempts(session=session, rows=[
            row("sheet-1-r00c01", target="我", verdict="wrong_character", sheet_id="sheet-1",
                cell_row=0, cell_col=1)])

    with database.transaction(url) as session:
        assert sheet_records.finish_sheets(session=session, sheet_ids=["sheet-1", "other"]) == [
            "sheet-1"]
    with database.transaction(url) as session:
        sheet = session.get(Sheet, "sheet-1")
        assert (sheet.status, sheet.score, sheet.practise) == ("done", round(1 / 3, 4),
                                                                ["我", "你"])
        assert sheet.student_id == "s1" and sheet.layout == LAYOUT and sheet.graded_at


def test_a_failed_sheet_keeps_its_reason_and_a_regrade_starts_afresh(url):  # noqa: F811
    with database.transaction(url) as session:
        sheet_records.fail_sheet(session=session, sheet_id="sheet-2", student="s2", source="b.png",
                          layout=LAYOUT, error="b.png: no grid found")
    with database.transaction(url) as session:
        sheet = session.get(Sheet, "sheet-2")
        assert (sheet.status, sheet.error) == ("failed", "b.png: no grid found")
        assert sheet_records.finish_sheet(session=session, sheet_id="sheet-2") is None

    with database.transaction(url) as session:
        sheet_records.start_sheet(session=session, sheet_id="sheet-2", student="s2", source="b.png",
                           layout=LAYOUT, cells_sent=0, blank_cells=[[0, 0, "我"]])
        finished = sheet_records.finish_sheet(session=session, sheet_id="sheet-2")
        assert (finished.status, finished.error, finished.score) == ("done", None, 0.0)


def test_finishing_twice_changes_nothing(url):  # noqa: F811
    with database.transaction(url) as session:
        sheet_records.start_sheet(session=session, sheet_id="sheet-3", student="s3", source=None,
                           layout=None, cells_sent=0, blank_cells=[])
        first = sheet_records.finish_sheet(session=session, sheet_id="sheet-3")
        moment = first.graded_at
    with database.transaction(url) as session:
        again = sheet_records.finish_sheet(session=session, sheet_id="sheet-3")
        # SQLite gives the time back without its zone
        assert again.graded_at.replace(tzinfo=None) == moment.replace(tzinfo=None)
        assert again.score is None
