"""`hanzi grade-sheet` and `hanzi make-sheets` on their own: options, students, errors."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner
from hanzi_grader.producer.sheets import cli as sheets_cli

from hanzi_grader.cli import cli


@pytest.fixture
def scan(tmp_path):
    path = tmp_path / "in" / "s042_week3.png"
    path.parent.mkdir()
    path.write_bytes(b"\x89PNG")
    return path


@pytest.mark.parametrize(
    ("args", "says"),
    [
        ([], "give exactly one of --layout FILE and --expect CHARS"),
        (["--expect", "我", "--layout", "x.toml"], "give exactly one of --layout"),
        (["--expect", "我A"], "'A' (U+0041) is not one of the 3755"),
        (["--layout", "{dir}/missing.toml"], "cannot read layout file"),
        (["--expect", "我", "--student", "a", "--students", "m.csv"], "not both"),
        (["--expect", "我", "--students", "{dir}/m.csv"], "cannot read"),
    ],
)
def test_bad_options_are_one_line_errors(scan, args, says):
    args = [a.replace("{dir}", str(scan.parent)) for a in args]

    done = CliRunner().invoke(cli, ["grade-sheet", str(scan), *args])

    assert done.exit_code != 0
    assert says in done.output
    assert "Traceback" not in done.output


def test_students_come_from_the_file_name_or_the_mapping(tmp_path, scan):
    mapping = tmp_path / "students.csv"
    mapping.write_text("file,student\ns042_week3.png,wang-li\n", encoding="utf-8")

    assert sheets_cli._students([scan], None, None) == {scan: "s042"}
    assert sheets_cli._students([scan], "zhao", None) == {scan: "zhao"}
    assert sheets_cli._students([scan], None, mapping) == {scan: "wang-li"}
    mapping.write_text("name,who\n", encoding="utf-8")
    with pytest.raises(Exception, match="must name the columns file and student"):
        sheets_cli.read_students(mapping)


def test_our_own_output_is_never_graded_again(tmp_path, scan):
    out = scan.parent / "graded"
    out.mkdir()
    (out / "s042_week3.annotated.png").write_bytes(b"x")
    (scan.parent / "old.annotated.png").write_bytes(b"x")

    assert sheets_cli.sheet_files([scan.parent], out) == [scan]


@pytest.mark.usefixtures("stroke_data")
def test_make_sheets_writes_images_and_their_truth(tmp_path):
    done = CliRunner().invoke(cli, ["make-sheets", str(tmp_path), "-n", "2", "--seed", "4",
                                    "--expect", "我你", "--cell-px", "48"])

    assert done.exit_code == 0, done.output
    images = sorted(p for p in tmp_path.iterdir() if not p.name.endswith(".json"))
    assert len(images) == 2
    truth = json.loads((tmp_path / "sheet-4-000.truth.json").read_text(encoding="utf-8"))
    assert truth["layout"]["expect"] == "我你" and truth["design"]["cell_px"] == 48
    assert {c["kind"] for c in truth["cells"]} <= {"correct", "wrong_character", "incomplete",
                                                   "blank"}
