"""The teacher's desk in a real headless Chromium (Debian's chromium and chromedriver, driven
by Selenium) against a real `hanzi api`, a real worker, Redis and Postgres.

Sign in, upload two small sheets in one form, watch them graded, override a cell by a key
press, reload and see the review and the new score; another tenant's teacher gets 404; the
class page fits a phone's width.

With HANZI_DESK_SCREENSHOTS=DIR the worker grades with the shipped bundle (so the pages show
real verdicts) and the class and review pages are saved as DIR/desk-class.png and
DIR/desk-review.png (docs/desk.md says how to regenerate them).
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from PIL import Image

from hanzi_grader.settings import SHIPPED_MODEL_DIR
from tests.integration.conftest import wait_for
from tests.integration.test_api import new_key, serve_api
from tests.producer.sheets.conftest import make_sheet
from tests.training.conftest import stroke_data  # noqa: F401  (the shared fixture)

pytestmark = pytest.mark.integration

CHROMIUM, CHROMEDRIVER = Path("/usr/bin/chromium"), Path("/usr/bin/chromedriver")
SCREENSHOTS = os.environ.get("HANZI_DESK_SCREENSHOTS")
GRADED_TIMEOUT_S = 180
EXPECT = "永水"
LAYOUT = {"expect": EXPECT, "columns": 4}


@pytest.fixture(scope="session")
def model_dir(request) -> Path:
    """The tiny untrained bundle (fast), or the shipped one when taking screenshots."""
    if SCREENSHOTS:
        return SHIPPED_MODEL_DIR
    return Path(request.getfixturevalue("tiny_bundle"))


@pytest.fixture(scope="module")
def desk_url(service_env, tmp_path_factory) -> Iterator[str]:
    env = service_env | {"HANZI_WEB_SECRET": "browser-tests-" + "x" * 32}
    yield from serve_api(env, tmp_path_factory.mktemp("desk") / "api.log")


@pytest.fixture(scope="module")
def browser() -> Iterator:
    """Headless Chromium from Debian's packages; Selenium Manager is never asked for a
    driver (it would download one)."""
    if not (CHROMIUM.exists() and CHROMEDRIVER.exists()):
        pytest.skip(f"needs {CHROMIUM} and {CHROMEDRIVER} (apt-get install chromium "
                    f"chromium-driver; tests/prepare-machine does it)")
    from selenium import webdriver
    from selenium.webdriver.chrome.options import Options
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.selenium_manager import SeleniumManager

    def refuse(*_args, **_kwargs):
        raise AssertionError("Selenium Manager must not run: the drivers are Debian's")

    options = Options()
    options.binary_location = str(CHROMIUM)
    for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage",
                     "--disable-gpu", "--no-first-run", "--disable-component-update",
                     "--disable-background-networking", "--window-size=1200,1000"):
        options.add_argument(argument)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(SeleniumManager, "binary_paths", refuse)
        driver = webdriver.Chrome(service=Service(executable_path=str(CHROMEDRIVER)),
                                  options=options)
    driver.implicitly_wait(0)
    try:
        yield driver
    finally:
        driver.quit()


@pytest.fixture(scope="module")
def scans(tmp_path_factory, stroke_data) -> list[Path]:  # noqa: F811
    """Two small generated sheets, named as a teacher's scanner would: student_sheet.png."""
    folder = tmp_path_factory.mktemp("scans")
    paths = []
    for seed, name in ((71, "ann_week5.png"), (72, "bo_week5.png")):
        sheet = make_sheet(seed, rows=len(EXPECT), columns=LAYOUT["columns"], expect=EXPECT,
                           level=0.4)
        Image.fromarray(sheet.image).save(folder / name)
        paths.append(folder / name)
    return paths


def sign_in(driver, url: str, key: dict[str, str]) -> None:
    from selenium.webdriver.common.by import By

    driver.get(f"{url}/desk/sign-in")
    driver.delete_all_cookies()  # whoever was signed in before
    driver.get(f"{url}/desk")
    assert driver.current_url.endswith("/desk/sign-in")
    driver.find_element(By.ID, "key").send_keys(key["Authorization"].removeprefix("Bearer "))
    driver.find_element(By.CSS_SELECTOR, "form.card button[type=submit]").click()
    wait_for(lambda: driver.current_url.endswith("/desk"), timeout=10,
             what="the class page after signing in")


def screenshot(driver, name: str) -> None:
    """Save the whole page, top to bottom, as SCREENSHOTS/name when asked to."""
    if not SCREENSHOTS:
        return
    import base64

    wait_for(lambda: driver.execute_script(
        "return Array.from(document.images).every(i => i.complete && i.naturalWidth > 0)"),
        timeout=60, what="the page's images to load")
    size = driver.execute_cdp_cmd("Page.getLayoutMetrics", {})["cssContentSize"]
    shot = driver.execute_cdp_cmd("Page.captureScreenshot", {
        "format": "png", "captureBeyondViewport": True,
        "clip": {"x": 0, "y": 0, "width": size["width"], "height": size["height"], "scale": 1}})
    folder = Path(SCREENSHOTS)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / name).write_bytes(base64.b64decode(shot["data"]))


def page_score(driver) -> str:
    from selenium.webdriver.common.by import By

    return driver.find_element(By.ID, "score").text


def test_a_teacher_grades_a_stack_reviews_a_cell_and_sees_the_new_score(
        worker, desk_url, service_env, browser, scans):
    from selenium.common.exceptions import StaleElementReferenceException
    from selenium.webdriver.common.by import By

    key = new_key(service_env, "desk-school", "--rate-limit", "100000")
    driver = browser

    # Given a signed-in teacher, when they upload two scans in one form
    sign_in(driver, desk_url, key)
    driver.find_element(By.ID, "scans").send_keys("\n".join(str(p) for p in scans))
    driver.find_element(By.CSS_SELECTOR, "details summary").click()
    driver.find_element(By.ID, "layout").send_keys(json.dumps(LAYOUT))
    driver.find_element(By.CSS_SELECTOR, "form.upload button[type=submit]").click()
    # (A click returns before the next page has loaded: every check after one waits for it.)
    wait_for(lambda: "Uploaded 2: ann (ann_week5.png), bo (bo_week5.png)" in driver.page_source,
             timeout=30, what="the upload's notice")

    # Then the page refreshes itself until both are graded
    def graded() -> bool:
        try:
            rows = driver.find_elements(By.CSS_SELECTOR, "table.sheets tbody tr")
            classes = [row.get_attribute("class") for row in rows]
        except StaleElementReferenceException:  # the page reloaded meanwhile
            return False
        return len(rows) == 2 and all(c == "status-done" for c in classes)

    wait_for(graded, timeout=GRADED_TIMEOUT_S, what="both sheets graded on the class page",
             interval=1)
    assert not driver.find_elements(By.CSS_SELECTOR, "meta[http-equiv=refresh]")
    students = driver.find_element(By.CSS_SELECTOR, "table.students").text
    assert "ann" in students and "bo" in students
    screenshot(driver, "desk-class.png")

    # When they open ann's sheet and press a key on the first cell of the review list
    driver.find_element(By.LINK_TEXT, "ann_week5.png").click()
    wait_for(lambda: "/desk/sheets/" in driver.current_url, timeout=30, what="the sheet's page")
    sheet_id = driver.current_url.rsplit("/", 1)[1]
    before = httpx.get(f"{desk_url}/v1/sheets/{sheet_id}", headers=key).json()
    first = driver.find_element(By.CSS_SELECTOR, "li[data-cell]")
    job_id = first.get_attribute("id").removeprefix("cell-")
    cell = next(c for c in before["cells"] if c.get("job_id") == job_id)
    verdict, press = (("wrong_character", "w") if cell["verdict"] == "correct"
                      else ("correct", "c"))
    first.send_keys(press)
    wait_for(lambda: "#cell-" in driver.current_url, timeout=30, what="the review to be stored")

    # Then, reloaded, the page shows the review, who made it, and the sheet's new score
    driver.refresh()
    after = httpx.get(f"{desk_url}/v1/sheets/{sheet_id}", headers=key).json()
    reviewed = next(c for c in after["cells"] if c.get("job_id") == job_id)
    assert reviewed["review"]["verdict"] == verdict
    assert reviewed["review"]["reviewer"].startswith("desk-school/hzk_")
    assert after["score"] != before["score"]
    assert page_score(driver) == f"Score {after['score']:.0%}"
    shown = driver.find_element(By.ID, f"cell-{job_id}").text
    assert "Reviewed:" in shown and reviewed["review"]["reviewer"] in shown
    pressed = driver.find_element(By.CSS_SELECTOR, f"#cell-{job_id} button[aria-pressed=true]")
    assert pressed.get_attribute("value") == verdict
    screenshot(driver, "desk-review.png")

    # And another tenant's teacher cannot open the sheet
    driver.find_element(By.CSS_SELECTOR, "form.signout button").click()
    wait_for(lambda: driver.current_url.endswith("/desk/sign-in"), timeout=30,
             what="the sign-in page after signing out")
    sign_in(driver, desk_url, new_key(service_env, "other-school"))
    driver.get(f"{desk_url}/desk/sheets/{sheet_id}")
    assert "Not here" in driver.title and f"no sheet '{sheet_id}'" in driver.page_source
    driver.get(f"{desk_url}/desk")
    assert "ann_week5.png" not in driver.page_source


def test_the_pages_fit_a_phone_and_show_chinese_in_the_packaged_font(
        desk_url, service_env, browser):

    driver = browser
    size = driver.get_window_size()
    driver.set_window_size(390, 844)
    try:
        sign_in(driver, desk_url, new_key(service_env, "phone-school"))
        overflow = driver.execute_script(
            "return document.documentElement.scrollWidth - window.innerWidth")
        assert overflow <= 1
        # The webfont loads when CJK text uses it (the brand's 汉字)
        loaded = driver.execute_async_script(
            "const done = arguments[0];"
            "document.fonts.load('16px \"Hanzi Grader Sans\"', '汉字')"
            ".then(faces => done(faces.length), () => done(-1));")
        assert loaded >= 1
        # The keyboard reaches the controls, and the focused one is outlined
        from selenium.webdriver.common.action_chains import ActionChains
        from selenium.webdriver.common.keys import Keys

        ActionChains(driver).send_keys(Keys.TAB).perform()
        focused = driver.switch_to.active_element
        assert focused.tag_name in ("a", "button", "input")
        assert focused.value_of_css_property("outline-style") != "none"
    finally:
        driver.set_window_size(size["width"], size["height"])


def test_the_screenshots_are_written_where_asked(browser):
    if not SCREENSHOTS:
        pytest.skip("set HANZI_DESK_SCREENSHOTS=DIR to write the desk's screenshots")
    for name in ("desk-class.png", "desk-review.png"):
        assert Image.open(Path(SCREENSHOTS) / name).size[0] >= 800

