"""hanzi submit / history on their own: file expansion, errors, history output."""

from __future__ import annotations

import json
import shutil
from datetime import UTC, datetime, timedelta

import pytest
from click.testing import CliRunner
from hanzi_grader.producer import cli as producer_cli
from PIL import Image
from sqlalchemy import create_engine, inspect

from hanzi_grader import attempts, database
from hanzi_grader.cli import cli
from hanzi_grader.settings import PACKAGE_ROOT, Settings

EXAMPLES = PACKAGE_ROOT / "examples"

T0 = datetime(2026, 1, 1, 9, 0, tzinfo=UTC)


@pytest.fixture
def configured(tmp_path, monkeypatch):
    """The commands pointed at a migrated SQLite database."""
    url = f"sqlite:///{tmp_path / 'hanzi.db'}"
    database.upgrade(url)
    settings = Settings(home=tmp_path, database_url=url)
    monkeypatch.setattr(database, "get_settings", lambda: settings)
    monkeypatch.setattr(producer_cli, "get_settings", lambda: settings)
    database.forget_engines()
    yield url
    database.forget_engines()


def test_folders_expand_to_their_images_sorted(tmp_path):
    (tmp_path / "sheet" / "row2").mkdir(parents=True)
    for name in ("sheet/b.png", "sheet/a.JPG", "sheet/row2/c.png", "sheet/notes.txt"):
        (tmp_path / name).write_bytes(b"x")

    files = producer_cli.image_files([tmp_path / "sheet"])

    assert [f.relative_to(tmp_path).as_posix() for f in files] == [
        "sheet/a.JPG", "sheet/b.png", "sheet/row2/c.png"]


@pytest.mark.parametrize(("name", "target"), [("永.png", "永"), ("03_水.png", "水"),
                                             ("sample-人.jpg", "人"), ("scan01.png", None)])
def test_a_file_name_may_announce_its_target(tmp_path, name, target):
    assert producer_cli.target_from_name(tmp_path / name) == target


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["submit", "missing.png", "--student", "s"], "no such file or folder: 'missing.png'"),
        (["submit", "{png}", "--student", "s", "--target", "A"], "'A' is not one of the 3755"),
        (["submit", "{png}", "{png}", "--student", "s", "--job-id", "j"], "--job-id names one"),
    ],
)
def test_submit_errors_are_one_line_without_traceback(tmp_path, args, says):
    png = tmp_path / "a.png"
    png.write_bytes(b"\x89PNG")
    args = [a.replace("{png}", str(png)) for a in args]

    result = CliRunner().invoke(cli, args)

    assert result.exit_code != 0
    assert says in result.output
    assert "Error: " in result.output and "error: " not in result.output
    assert "Traceback" not in result.output


@pytest.fixture
def homework(tmp_path):
    """A folder of character images with a scanned practice sheet in a sub-folder."""
    folder = tmp_path / "homework"
    (folder / "sheets").mkdir(parents=True)
    shutil.copy(EXAMPLES / "an-安.png", folder / "an-安.png")
    with Image.open(EXAMPLES / "guo-国.png") as image:  # a large character is still one
        image.resize((400, 400)).save(folder / "guo-国-large.png")
    shutil.copy(EXAMPLES / "sheets" / "li-ming_week3.jpg", folder / "sheets" / "week3.jpg")
    return folder


def test_submit_skips_practice_sheets_found_in_folders(homework, capsys):
    files = producer_cli.character_files([homework])

    assert [f.name for f in files] == ["an-安.png", "guo-国-large.png"]
    note = capsys.readouterr().err
    assert f"skipped {homework / 'sheets' / 'week3.jpg'}: looks like a practice sheet" in note
    assert "hanzi grade-sheet" in note


def test_a_sheet_named_on_the_command_line_is_kept_with_a_warning(homework, capsys):
    sheet = homework / "sheets" / "week3.jpg"

    assert producer_cli.character_files([sheet]) == [sheet]
    assert "looks like a practice sheet (4 rows x 6 columns)" in capsys.readouterr().err


def test_a_folder_of_sheets_alone_is_nothing_to_submit(homework):
    result = CliRunner().invoke(cli, ["submit", str(homework / "sheets"), "--student", "s"])

    assert result.exit_code == 2
    assert "Error: no character images to submit (only practice sheets)" in result.output


def test_history_json_has_the_documented_fields(configured):
    rows = [
        {"job_id": f"j{i}", "student_id": "s1", "target": t, "status": "done", "verdict": v,
         "predicted_char": p, "created_at": T0 + timedelta(minutes=i),
         "processed_at": T0 + timedelta(minutes=i, seconds=1)}
        for i, (t, v, p) in enumerate([("永", "correct", "永"), ("永", "wrong_character", "水"),
                                       ("水", "incomplete_or_unclear", "水")])
    ]
    with database.transaction(configured) as session:
        attempts.record_attempts(session=session, rows=rows)

    result = CliRunner().invoke(cli, ["history", "s1", "--json"])

    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["student"] == "s1" and data["attempt_count"] == 3
    assert [a["job_id"] for a in data["attempts"]] == ["j0", "j1", "j2"]
    assert set(data["attempts"][0]) >= {"job_id", "target", "predicted", "verdict", "created_at"}
    assert {s["char"]: s["accuracy"] for s in data["per_character"]} == {"永": 0.5, "水": 0.0}
    assert [s["char"] for s in data["weakest"]] == ["水", "永"]


def test_history_text_shows_accuracy_and_what_to_practise(configured):
    with database.transaction(configured) as session:
        attempts.record_attempts(session=session, rows=[{
            "job_id": "j1", "student_id": "s1", "target": "永", "status": "done",
            "verdict": "wrong_character", "predicted_char": "水", "predicted": [],
            "created_at": T0, "processed_at": T0}])

    result = CliRunner().invoke(cli, ["history", "s1"])

    assert result.exit_code == 0, result.output
    assert "student s1: 1 attempts" in result.output
    assert "永  0/1  0%" in result.output
    assert "practise next: 永" in result.output


def test_history_text_shows_the_strokes_left_out(configured):
    missing = {"index": 2, "kind": "点", "confidence": 0.9}
    with database.transaction(configured) as session:
        attempts.record_attempts(session=session, rows=[{
            "job_id": f"j{i}", "student_id": "s1", "target": "永", "status": "done",
            "verdict": "incomplete_or_unclear", "predicted_char": "永", "predicted": [],
            "missing_stroke": missing, "created_at": T0, "processed_at": T0}
            for i in range(2)])

    result = CliRunner().invoke(cli, ["history", "s1"])

    assert result.exit_code == 0, result.output
    assert "incomplete_or_unclear, missing stroke 3 点" in result.output
    assert "strokes most often left out:\n  点  2x: 永 stroke 3 (2x)" in result.output


def test_history_on_a_fresh_embedded_home_migrates_its_database(tmp_path, monkeypatch):
    settings = Settings(home=tmp_path / "home")  # no HANZI_DATABASE_URL: embedded SQLite
    settings.home.mkdir()
    monkeypatch.setattr(database, "get_settings", lambda: settings)
    monkeypatch.setattr(producer_cli, "get_settings", lambda: settings)
    database.forget_engines()

    result = CliRunner().invoke(cli, ["history", "s1", "--json"])

    database.forget_engines()
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["attempt_count"] == 0
    engine = create_engine(settings.effective_database_url)
    assert {"students", "sheets", "attempts"} <= set(inspect(engine).get_table_names())
    engine.dispose()


def test_history_of_an_unmigrated_database_says_so(tmp_path, monkeypatch):
    settings = Settings(home=tmp_path, database_url=f"sqlite:///{tmp_path / 'empty.db'}")
    monkeypatch.setattr(database, "get_settings", lambda: settings)
    monkeypatch.setattr(producer_cli, "get_settings", lambda: settings)
    database.forget_engines()

    result = CliRunner().invoke(cli, ["history", "s1"])

    assert result.exit_code == 1
    assert "hanzi db upgrade" in result.output and "Traceback" not in result.output


def test_demo_job_ids_are_valid_for_every_example_and_follow_student_version_and_content(
        tmp_path):
    from hanzi_grader.models.bundle import load_manifest
    from hanzi_grader.producer import client
    from hanzi_grader.producer.cli import EXAMPLES_DIR, demo_job_id

    from hanzi_grader.settings import SHIPPED_MODEL_DIR

    version = load_manifest(SHIPPED_MODEL_DIR).version
    examples = sorted(EXAMPLES_DIR.glob("*.png"))
    ids = [demo_job_id("demo-student", version, path) for path in examples]
    for job_id in ids:  # what the demo sends must pass the client's own check
        client.check_job(student="demo-student", target=None, top_n=5, job_id=job_id)
    assert len(set(ids)) == len(examples)
    assert ids == [demo_job_id("demo-student", version, path) for path in examples]
    assert demo_job_id("other", version, examples[0]) != ids[0]
    assert demo_job_id("demo-student", version + "-next", examples[0]) != ids[0]
    changed = tmp_path / examples[0].name
    changed.write_bytes(examples[0].read_bytes() + b"\0")
    assert demo_job_id("demo-student", version, changed) != ids[0]


def test_submit_to_a_broker_that_does_not_answer_says_so_in_one_line(tmp_path):
    import os
    import socket
    import subprocess
    import sys

    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = os.environ | {"HANZI_HOME": str(tmp_path),
                        "HANZI_BROKER_URL": f"redis://127.0.0.1:{port}/0"}
    done = subprocess.run([sys.executable, "-m", "hanzi_grader", "submit",
                           str(EXAMPLES / "an-安.png"), "--student", "s1"],
                          env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode != 0
    assert "Traceback" not in done.stderr
    assert f"cannot reach the broker at redis://127.0.0.1:{port}/0" in done.stderr
