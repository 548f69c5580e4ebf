"""The teacher's desk (/desk) in-process: signing in with a key, uploading a stack of scans
through the API's own accept_sheet, the class page, reviewing a cell, and tenant isolation.
The browser tests (tests/integration/test_desk_browser.py) drive the same pages in Chromium
against a real worker."""

from __future__ import annotations

import csv
import io
import re

import pytest
from fastapi.testclient import TestClient
from hanzi_grader.api.web.classwork import review_queue, unsure_reasons
from hanzi_grader.producer.sheets.collect import CellResult, SheetResult
from PIL import Image

from hanzi_grader import database, reviews, sheet_records
from tests.api.conftest import Api
from tests.api.test_sheets import SCAN, grade_as_the_worker_would, post_sheet
from tests.api.test_sheets import sent_sheets as sent_sheets


@pytest.fixture
def api_limits() -> tuple[int, int]:
    # One scan fits an API request; a stack of them does not, and need not: the desk's upload
    # has its own limit (HANZI_WEB_MAX_UPLOAD_BYTES, 64 MiB)
    return len(SCAN) + 1, len(SCAN) + 64 * 1024


def token(page: str) -> str:
    return re.search(r'name="csrf" value="([^"]+)"', page).group(1)


def desk(api: Api, key: dict[str, str] | None = None) -> TestClient:
    """A browser of its own (its own cookies) on the app, signed in with ``key`` if given."""
    browser = TestClient(api.http.app, raise_server_exceptions=False)
    if key is not None:
        form = browser.get("/desk/sign-in").text
        signed = browser.post("/desk/sign-in", follow_redirects=False, data={
            "key": key["Authorization"].removeprefix("Bearer "), "csrf": token(form)})
        assert signed.status_code == 303, signed.text
    return browser


def graded_sheet(api: Api, key: dict[str, str]) -> str:
    """A sheet posted through the API and graded: (0,1) correct, (1,1) wrong, (3,5) blank."""
    sheet_id = post_sheet(api, key, student="li", expect="你好学生").json()["sheet_id"]
    with database.transaction() as session:
        tenant_id = sheet_records.sheet_tenant(session=session, sheet_id=sheet_id)
    grade_as_the_worker_would(sheet_id, tenant_id)
    return sheet_id


def test_a_teacher_signs_in_with_their_key_and_out_again(api):
    browser = desk(api)
    assert browser.get("/desk", follow_redirects=False).headers["location"].endswith(
        "/desk/sign-in")

    # A wrong key is refused, the page says so
    form = browser.get("/desk/sign-in")
    wrong = browser.post("/desk/sign-in", data={"key": "hzk_nope", "csrf": token(form.text)})
    assert wrong.status_code == 401 and "unknown or revoked" in wrong.text

    # The right one opens the class; the cookie is HttpOnly, SameSite=Lax, and holds no key
    key = api.new_key("acme")
    signed = browser.post("/desk/sign-in", follow_redirects=False, data={
        "key": key["Authorization"].removeprefix("Bearer "), "csrf": token(wrong.text)})
    cookie = signed.headers["set-cookie"].lower()
    assert signed.status_code == 303 and "httponly" in cookie and "samesite=lax" in cookie
    assert "hzk_" not in signed.headers["set-cookie"]
    page = browser.get("/desk")
    assert page.status_code == 200 and "acme" in page.text
    assert "default-src 'self'" in page.headers["content-security-policy"]

    # Signing out needs the form's token, then ends the session
    assert browser.post("/desk/sign-out", data={"csrf": "forged"}).status_code == 403
    browser.post("/desk/sign-out", data={"csrf": token(page.text)})
    assert browser.get("/desk", follow_redirects=False).status_code == 303


def test_a_revoked_key_signs_its_teacher_out(api):
    from hanzi_grader import tenants

    key = api.new_key("acme")
    browser = desk(api, key)
    with database.transaction() as session:
        [row] = tenants.api_keys(session=session)
        tenants.revoke_api_key(session=session, key_id=row["key_id"])
    assert browser.get("/desk", follow_redirects=False).status_code == 303


def test_a_stack_of_scans_is_accepted_as_the_api_accepts_a_sheet(api, sent_sheets):
    browser = desk(api, api.new_key("acme"))
    page = browser.get("/desk").text

    # Without the session's token nothing is sent
    forged = browser.post("/desk/sheets", data={"expect": "你好学生"},
                          files=[("scans", ("li_week3.jpg", SCAN, "image/jpeg"))])
    assert forged.status_code == 403 and sent_sheets == []

    # Three scans in one form: each one a sheet, its student from its file name; the empty
    # one is refused as the API refuses it, and the page says so
    done = browser.post("/desk/sheets", data={"csrf": token(page), "expect": "你好学生"}, files=[
        ("scans", ("li_week3.jpg", SCAN, "image/jpeg")),
        ("scans", ("zhao_week3.jpg", b"", "image/jpeg")),
        ("scans", ("wang_week3.jpg", SCAN, "image/jpeg"))])
    assert done.status_code == 200
    assert sorted(s["student"] for s in sent_sheets) == ["li", "wang"]
    assert "Uploaded 2: li (li_week3.jpg), wang (wang_week3.jpg)" in done.text
    assert "zhao_week3.jpg: not uploaded: image is empty" in done.text
    assert 'http-equiv="refresh"' in done.text  # grading: the page refreshes itself
    assert done.text.count("queued") >= 2


@pytest.mark.parametrize(("fields", "says"), [
    ({}, "exactly one of expect"),
    ({"layout": "{"}, "layout is not JSON"),
    ({"expect": "xyz"}, "Nothing was uploaded"),
    ({"expect": "你好", "no_scans": True}, "choose one or more scans"),
])
def test_a_bad_layout_uploads_nothing_and_says_why(api, sent_sheets, fields, says):
    browser = desk(api, api.new_key("acme"))
    scans = [] if fields.pop("no_scans", False) else [("scans", ("li.jpg", SCAN, "image/jpeg"))]
    page = browser.post("/desk/sheets", data={"csrf": token(browser.get("/desk").text), **fields},
                        files=scans or [("scans", ("", b"", "application/octet-stream"))])
    assert says in page.text and sent_sheets == []


def test_a_review_from_the_desk_is_stored_as_the_api_stores_it_and_rescores(api, sent_sheets):
    key = api.new_key("acme")
    sheet_id = graded_sheet(api, key)
    browser = desk(api, key)
    page = browser.get(f"/desk/sheets/{sheet_id}")
    assert page.status_code == 200 and "Score 33%" in page.text
    # The blank cell is not listed; the wrong one (lower similarity) comes first
    listed = re.findall(r'id="cell-([^"]+)"', page.text)
    assert listed == [f"{sheet_id}-r01c01", f"{sheet_id}-r00c01"]
    image = browser.get(f"/desk/sheets/{sheet_id}/cells/1/1.png")
    assert image.status_code == 200 and Image.open(io.BytesIO(image.content)).size[0] > 10

    # When the teacher says the wrong cell is right, with a note that is markup
    note = "<script>alert('x')</script> fine"
    answer = browser.post(f"/desk/sheets/{sheet_id}/review", follow_redirects=False, data={
        "csrf": token(page.text), "job_id": listed[0], "verdict": "correct", "note": note})

    # Then it goes on at the next cell, the review is the API's, and the score is new
    assert answer.status_code == 303
    assert answer.headers["location"].endswith(f"/desk/sheets/{sheet_id}#cell-{listed[1]}")
    result = api.http.get(f"/v1/jobs/{listed[0]}", headers=key).json()["result"]
    assert result["verdict"] == "wrong_character" and result["review"]["note"] == note
    assert result["review"]["reviewer"].startswith("acme/hzk_")
    after = browser.get(f"/desk/sheets/{sheet_id}").text
    assert "Score 67%" in after and result["review"]["reviewer"] in after
    assert "<script>alert" not in after and "&lt;script&gt;" in after


def test_the_class_page_shows_scores_the_most_missed_and_exports_csv(api, sent_sheets):
    key = api.new_key("acme")
    sheet_id = graded_sheet(api, key)
    browser = desk(api, key)

    page = browser.get("/desk").text
    assert "33%" in page and "Most missed characters" in page and "好" in page
    assert 'http-equiv="refresh"' not in page  # nothing is grading
    exported = browser.get("/desk/class.csv")
    assert exported.headers["content-type"].startswith("text/csv")
    [row] = list(csv.DictReader(io.StringIO(exported.text)))
    assert row["student"] == "li" and row["score"] == "0.3333" and row["sheet_id"] == sheet_id
    assert row["annotated"].endswith(f"/desk/sheets/{sheet_id}/annotated.png")
    page = browser.get(f"/desk/sheets/{sheet_id}/annotated.png")
    assert page.headers["content-type"] == "image/png"
    # Asked again unchanged, it is not drawn again; reviewed, it is
    etag = {"If-None-Match": page.headers["etag"]}
    assert browser.get(f"/desk/sheets/{sheet_id}/annotated.png", headers=etag).status_code == 304
    api.http.post(f"/v1/jobs/{sheet_id}-r01c01/review", headers=key, json={"verdict": "correct"})
    assert browser.get(f"/desk/sheets/{sheet_id}/annotated.png", headers=etag).status_code == 200


def test_another_tenants_teacher_cannot_open_the_sheet(api, sent_sheets):
    sheet_id = graded_sheet(api, api.new_key("acme"))
    globex = desk(api, api.new_key("globex"))
    csrf = token(globex.get("/desk").text)

    assert sheet_id not in globex.get("/desk").text
    for path in (f"/desk/sheets/{sheet_id}", f"/desk/sheets/{sheet_id}/annotated.png",
                 f"/desk/sheets/{sheet_id}/cells/1/1.png"):
        assert globex.get(path).status_code == 404, path
    review = globex.post(f"/desk/sheets/{sheet_id}/review", data={
        "csrf": csrf, "job_id": f"{sheet_id}-r01c01", "verdict": "correct"})
    assert review.status_code == 404
    with database.transaction() as session:
        assert reviews.reviewed_attempts(session=session) == []


def test_the_font_and_stylesheet_are_served(api):
    font = api.http.get("/desk/font/HanziGraderSans-Regular.otf")
    assert font.status_code == 200 and font.headers["content-type"] == "font/otf"
    css = api.http.get("/desk/static/desk.css").text
    assert "@font-face" in css and "../font/HanziGraderSans-Regular.otf" in css


def test_the_webfont_has_a_glyph_for_every_character_a_target_can_be():
    # Given the packaged font the desk serves, then each of the 3755 characters the grader
    # knows is drawn with a glyph of its own, not the "missing" box (a rarer character, a
    # student's name say, falls back to the system's fonts)
    from hanzi_grader.models.charset import CLASSES, UNKNOWN_LABEL
    from hanzi_grader.producer.sheets.fonts import sans_font

    font = sans_font(24)

    def drawn(char: str) -> tuple:
        mask = font.getmask(char)
        return mask.size, bytes(mask)

    missing_box = drawn("\U00020000")  # CJK extension B: outside the subset
    assert [c for c in CLASSES if c != UNKNOWN_LABEL and drawn(c) == missing_box] == []


def cell(verdict: str, predicted: str | None, similarity: float | None, col: int = 0
         ) -> CellResult:
    return CellResult(0, col, "好", verdict, predicted, similarity, job_id=f"j{col}")


def test_the_review_queue_puts_the_machines_doubts_first():
    sure_right = cell("correct", "好", 0.9, 0)
    low_right = cell("correct", "好", 0.3, 1)
    read_otherwise = cell("correct", "女", 0.8, 2)
    unclear = cell("incomplete_or_unclear", "好", 0.5, 3)
    failed = CellResult(0, 4, "好", "failed", error="InvalidImage: no ink", job_id="j4")
    blank = CellResult(0, 5, "好", "blank")
    result = SheetResult("s.png", "li", "s", cells=[sure_right, low_right, read_otherwise,
                                                    unclear, failed, blank])

    order = [item.cell.col for item in review_queue(result)]

    assert order == [3, 2, 1, 0, 4]
    assert unsure_reasons(read_otherwise) == ["the classifier read 女"]
    assert unsure_reasons(cell("wrong_character", "好", 0.1)) == ["the classifier read 好"]
    assert unsure_reasons(sure_right) == []
