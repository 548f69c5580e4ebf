"""The evaluation report: which of the training issue's goals a bundle meets."""

from __future__ import annotations

from hanzi_grader.models.training.evaluate import format_report, goals_met


def _report(top1: float, images_per_s: float) -> dict:
    return {
        "bundle": "models/bundle", "architecture": "melnyk-compact-48", "version": "v",
        "trained": True,
        "synthetic_heldout": {"n": 3000, "top1": top1, "top5": 0.99},
        "speed": {"batch": 64, "recognize_images_per_s": images_per_s},
    }


def test_goals_are_judged_on_the_figures_the_report_holds():
    goals = goals_met(_report(top1=0.96, images_per_s=850.0))

    assert goals == {
        "synthetic_heldout.top1": {"goal": 0.97, "measured": 0.96, "met": False},
        "speed.recognize_images_per_s": {"goal": 400.0, "measured": 850.0, "met": True},
    }  # the verifier was not measured, so none of its goals is claimed either way


def test_the_table_marks_each_goal_and_names_the_ones_short():
    report = _report(top1=0.96, images_per_s=850.0)
    report["goals"] = goals_met(report)

    lines = format_report(report).splitlines()

    top1 = next(line for line in lines if line.strip().startswith("top1"))
    assert "96.00%" in top1 and "goal >= 97.00%: SHORT" in top1
    speed = next(line for line in lines if "recognize_images_per_s" in line)
    assert "goal >= 400.0: met" in speed
    assert lines[-1] == "goals met: 1 of 2 (short: synthetic_heldout.top1)"


def test_a_report_without_goals_prints_as_before():
    lines = format_report(_report(top1=0.98, images_per_s=850.0)).splitlines()

    assert not any("goal" in line for line in lines)


def test_top1_is_counted_per_writer_leaving_out_synthetic_fallbacks():
    import numpy as np
    from hanzi_grader.models.training.evaluate import top1_by_writer
    from hanzi_grader.models.training.scoring import Outputs

    labels = np.array([0, 1, 2, 3, 4])
    guesses = np.array([0, 1, 9, 3, 9])  # the third and the fifth misread
    probabilities = np.zeros((5, 3756), dtype=np.float32)
    probabilities[np.arange(5), guesses] = 1.0
    outputs = Outputs(probabilities, np.zeros((5, 4), dtype=np.float32))

    by_writer = top1_by_writer(outputs, labels, [1231, 1231, 1240, None, 1240])

    assert by_writer == {"1231": 1.0, "1240": 0.0}  # the None sample was synthetic


def test_the_table_shows_a_figure_per_writer_on_one_line():
    report = _report(top1=0.66, images_per_s=850.0)
    report["writers_heldout"] = {"n": 3000, "top1": 0.66, "top1_by_writer": {"1231": 0.63,
                                                                             "1240": 0.29}}
    line = next(line for line in format_report(report).splitlines() if "by_writer" in line)
    assert line.split()[1:] == ["1231", "63.00%,", "1240", "29.00%"]
