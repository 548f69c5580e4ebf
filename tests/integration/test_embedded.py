"""The embedded default: nothing configured, no Redis and no Postgres, `hanzi demo` works."""

from __future__ import annotations

import json
import sqlite3
import time

import pytest
from hanzi_grader.worker.presence import embedded_worker_running

from hanzi_grader.settings import PACKAGE_ROOT, Settings
from tests.integration.conftest import clean_environment, hanzi, json_lines
from tests.worker.images import character_png

pytestmark = pytest.mark.integration


def test_demo_runs_the_whole_path_on_sqlite_alone(tmp_path, model_dir):
    # Given no broker and no database configured, and nothing at the usual service ports
    home = tmp_path / "home"
    env = clean_environment(home) | {"HANZI_MODEL_DIR": str(model_dir),
                                     "PGHOST": "127.0.0.1", "PGPORT": "1",
                                     "REDIS_URL": "redis://127.0.0.1:1/0"}
    images = tmp_path / "images"
    images.mkdir()
    for name, char in (("01_永.png", "永"), ("02_水.png", "水"), ("03_scan.png", "人")):
        (images / name).write_bytes(character_png(char))
    (images / "04_broken.png").write_bytes(b"broken")

    # When the demo runs
    done = hanzi("demo", str(images), "--student", "embedded", "--timeout", "240", env=env,
                 timeout=300)

    # Then it graded every image on the embedded broker and stored the history in SQLite
    out = done.stdout
    assert out.startswith(f"broker sqla+sqlite:///{home}/broker.db, database sqlite:///{home}")
    assert "student embedded: 4 attempts (1 failed)" in out
    assert "target 永:" in out and "target 水:" in out
    assert "04_broken.png  failed  InvalidImage" in out
    # and then graded the example practice sheet through the same queue
    assert "sheet li-ming_week3.jpg: score" in out
    annotated = out.split("annotated sheet: ")[1].split()[0]
    assert annotated.startswith(str(home)) and annotated.endswith(".annotated.png")
    with sqlite3.connect(home / "hanzi.db") as connection:
        statuses = dict(connection.execute(
            "SELECT status, count(*) FROM attempts WHERE student_id = 'embedded' GROUP BY 1"))
    assert statuses == {"done": 3, "failed": 1}
    with sqlite3.connect(home / "hanzi.db") as connection:
        [(status, cells_sent)] = connection.execute(
            "SELECT status, cells_sent FROM sheets WHERE student_id = 'li-ming'")
        graded = connection.execute(
            "SELECT count(*) FROM attempts WHERE student_id = 'li-ming'").fetchone()[0]
    assert status == "done" and graded == cells_sent > 0


def test_one_command_grades_on_a_fresh_home_with_no_worker_running(tmp_path, model_dir):
    # Given a fresh home, nothing configured, no worker and no `hanzi db upgrade`
    home = tmp_path / "home"
    env = clean_environment(home) | {"HANZI_MODEL_DIR": str(model_dir)}
    sheets = PACKAGE_ROOT / "examples" / "sheets"

    # When a teacher grades a sheet, then asks for the student's history
    started = time.monotonic()
    graded = hanzi("grade-sheet", str(sheets / "li-ming_week3.jpg"), "--layout",
                   str(sheets / "week3.layout.toml"), "--json", "--out", str(tmp_path / "out"),
                   env=env, timeout=240)
    took = time.monotonic() - started
    history = hanzi("history", "li-ming", "--json", env=env)

    # Then a worker was started for the command, the sheet graded, and its cells stored
    assert took < 120
    assert "no worker running: starting one for this command" in graded.stderr
    [sheet] = [json.loads(line) for line in graded.stdout.splitlines()]
    assert sheet["error"] is None and sheet["student"] == "li-ming"
    assert sheet["cells"] and all(c["verdict"] != "failed" for c in sheet["cells"])
    written = sum(c["verdict"] != "blank" for c in sheet["cells"])
    assert json.loads(history.stdout)["attempt_count"] == written
    assert (home / "hanzi.db").is_file()

    # and `submit --wait` grades the same way, its worker gone when it ends
    image = tmp_path / "永.png"
    image.write_bytes(character_png("永"))
    done = hanzi("submit", str(image), "--student", "li-ming", "--wait", "--json", env=env,
                 timeout=240)
    [outcome] = json_lines(done.stdout)
    assert outcome["status"] == "done" and outcome["target"] is None
    assert not embedded_worker_running(Settings(home=home))
