"""Scanned practice sheets: how well the image side reads generated sheets with known truth.

N sheets (default 100) from ``producer.sheets.generate``, their artefact level spread evenly
from a clean flatbed scan (0) to a poor phone photo (1): rotation up to 7 degrees, perspective,
blur, noise, JPEG, shadows and tinted paper, cells of 40 to 200 pixels, 田字格, 米字格 and plain
squares in black, grey, red and green, pen and pencil. Measures:

- grid found: the grid was found with the layout's rows and columns;
- cell boxes: the share of all cells whose found box has IoU >= 0.8 with the true one (a cell
  of a sheet whose grid was not found counts as missed);
- blank cells: the share of empty cells called blank, and of written cells called blank;
- verdicts: the verifier's verdict on each written cell (the cleaned cell image, as the queue
  would send it) against the truth, per true verdict class. These depend on the model bundle
  (``HANZI_MODEL_DIR``); an untrained bundle's verdicts are meaningless.

Run alone: ``python -m benchmarks.sheets [--count N] [--quick] [--no-verdicts]``. Needs the
stroke data (``hanzi fetch-strokes``). The last line printed is one JSON object.
"""

from __future__ import annotations

import argparse
import time
from collections import Counter, defaultdict
from typing import Any

import numpy as np

from benchmarks.report import emit, percentile, rounded

IOU_GOAL = 0.8
LEVEL_BANDS = ((0.0, 0.34, "clean (0-0.33)"), (0.34, 0.67, "middling (0.34-0.66)"),
               (0.67, 1.01, "rough (0.67-1)"))
VERDICT_CLASSES = ("correct", "wrong_character", "incomplete_or_unclear", "blank")


def run(*, count: int, seed: int, verdicts: bool = True) -> dict[str, Any]:
    """Generate, analyse and (optionally) verify ``count`` sheets; the figures as a dict."""
    from hanzi_grader.producer.sheets.generate import generate_sheet
    from hanzi_grader.scans.analysis import analyse_sheet
    from hanzi_grader.scans.geometry import quad_iou
    from hanzi_grader.scans.layout import layout_from_dict
    from hanzi_grader.scans.paper import Page

    sheets: list[dict[str, Any]] = []
    to_verify: list[tuple[bytes, str, str]] = []  # (cell png, target, true verdict)
    blank_pairs: list[tuple[str, bool]] = []  # (true kind, called blank)
    for index in range(count):
        level = index / max(1, count - 1)
        sheet = generate_sheet(np.random.default_rng([seed, index]), level=level)
        truth = sheet.truth
        record = {"level": level, "cell_px": truth["design"]["cell_px"],
                  "cells": len(truth["cells"]), "found": False, "good_boxes": 0,
                  "error": None}
        started = time.perf_counter()
        try:
            analysis = analyse_sheet(Page(sheet.image, name=f"sheet {index}"),
                                     layout_from_dict(truth["layout"]))
        except Exception as error:  # a miss to count, whatever its kind
            record["error"] = str(error)
            record["seconds"] = time.perf_counter() - started
            sheets.append(record)
            continue
        record["seconds"] = time.perf_counter() - started
        record["found"] = True
        by_cell = {(c.spec.row, c.spec.col): c for c in analysis.cells}
        for true_cell in truth["cells"]:
            found = by_cell[true_cell["row"], true_cell["col"]]
            if quad_iou(np.array(true_cell["quad"]), found.quad) >= IOU_GOAL:
                record["good_boxes"] += 1
            if true_cell["kind"] == "model" or true_cell["expected"] is None:
                continue
            blank_pairs.append((true_cell["kind"], found.blank))
            if verdicts and not found.blank and true_cell["kind"] != "blank":
                to_verify.append((found.png(), true_cell["expected"], true_cell["verdict"]))
        sheets.append(record)
    figures = _image_figures(sheets, blank_pairs)
    if verdicts:
        figures |= _verdict_figures(to_verify, blank_pairs)
    return figures


def _image_figures(sheets: list[dict], blank_pairs: list[tuple[str, bool]]) -> dict[str, Any]:
    total_cells = sum(s["cells"] for s in sheets)
    blank = [called for kind, called in blank_pairs if kind == "blank"]
    written = [called for kind, called in blank_pairs if kind != "blank"]
    bands = {}
    for low, high, name in LEVEL_BANDS:
        chosen = [s for s in sheets if low <= s["level"] < high]
        if chosen:
            bands[name] = {
                "sheets": len(chosen),
                "grid_found_rate": rounded(sum(s["found"] for s in chosen) / len(chosen), 4),
                "box_iou_rate": rounded(sum(s["good_boxes"] for s in chosen)
                                        / max(1, sum(s["cells"] for s in chosen)), 4),
            }
    seconds = [s["seconds"] for s in sheets]
    return {
        "sheets": len(sheets),
        "cells": total_cells,
        "grid_found_rate": rounded(sum(s["found"] for s in sheets) / len(sheets), 4),
        "box_iou_0_8_rate": rounded(sum(s["good_boxes"] for s in sheets) / total_cells, 4),
        "blank_cells": len(blank),
        "blank_recognised_rate": rounded(sum(blank) / len(blank), 4) if blank else None,
        "written_cells": len(written),
        "written_called_blank_rate": rounded(sum(written) / len(written), 4) if written else None,
        "analysis_s_mean": rounded(float(np.mean(seconds)), 3),
        "analysis_s_p95": rounded(percentile(seconds, 95), 3),
        "by_level": bands,
        "failures": [f"{s['error']} (level {s['level']:.2f}, {s['cell_px']} px cells)"
                     for s in sheets if s["error"]],
    }


def _verdict_figures(to_verify: list[tuple[bytes, str, str]],
                     blank_pairs: list[tuple[str, bool]]) -> dict[str, Any]:
    from hanzi_grader.models.recognizer import Recognizer

    from hanzi_grader.settings import get_settings

    recognizer = Recognizer.load(get_settings().model_dir)
    predicted: list[str] = []
    batch = 64
    started = time.perf_counter()
    for start in range(0, len(to_verify), batch):
        chunk = to_verify[start:start + batch]
        recognitions = recognizer.recognize([png for png, _, _ in chunk],
                                            targets=[target for _, target, _ in chunk])
        predicted += [str(r.verdict) if r.ok and r.verdict is not None else "failed"
                      for r in recognitions]
    seconds = time.perf_counter() - started
    agreement: dict[str, list[bool]] = defaultdict(list)
    confusion: dict[str, Counter] = defaultdict(Counter)
    for (_, _, truth), verdict in zip(to_verify, predicted, strict=True):
        agreement[truth].append(verdict == truth)
        confusion[truth][verdict] += 1
    for kind, called_blank in blank_pairs:
        truth = "blank" if kind == "blank" else None
        if truth is not None:
            agreement[truth].append(called_blank)
            confusion[truth]["blank" if called_blank else "written"] += 1
    per_class = {name: {"cells": len(agreement[name]),
                        "agreement": rounded(sum(agreement[name]) / len(agreement[name]), 4)
                        if agreement[name] else None,
                        "called": dict(confusion[name].most_common())}
                 for name in VERDICT_CLASSES}
    every = [ok for name in VERDICT_CLASSES for ok in agreement[name]]
    return {
        "model_version": str(recognizer.manifest.version),
        "model_trained": bool(recognizer.trained),
        "verdict_agreement": rounded(sum(every) / len(every), 4) if every else None,
        "verdict_agreement_by_class": per_class,
        "verify_images_per_s": rounded(len(to_verify) / seconds, 1) if seconds else None,
    }


def print_figures(figures: dict[str, Any]) -> None:
    rows = [
        ["grid found (rows and columns as the layout)", figures["grid_found_rate"], ">= 0.98"],
        ["cell boxes with IoU >= 0.8, of all cells", figures["box_iou_0_8_rate"], ">= 0.99"],
        ["blank cells called blank", figures["blank_recognised_rate"], ">= 0.99"],
        ["written cells called blank", figures["written_called_blank_rate"], "low"],
        ["analysis seconds per sheet, mean", figures["analysis_s_mean"], ""],
        ["analysis seconds per sheet, p95", figures["analysis_s_p95"], ""],
    ]
    for name, band in figures["by_level"].items():
        rows.append([f"  {name}: grid found / boxes", f"{band['grid_found_rate']:.4f} / "
                     f"{band['box_iou_rate']:.4f}", f"{band['sheets']} sheets"])
    if "verdict_agreement_by_class" in figures:
        trained = "trained" if figures["model_trained"] else "UNTRAINED: meaningless"
        rows.append([f"verdict agreement, all classes ({figures['model_version']}, {trained})",
                     figures["verdict_agreement"], "reported"])
        for name, found in figures["verdict_agreement_by_class"].items():
            called = ", ".join(f"{k} {v}" for k, v in found["called"].items())
            rows.append([f"  true {name} ({found['cells']} cells)", found["agreement"], called])
    summary = {k: v for k, v in figures.items() if k not in ("by_level",)}
    emit(f"Practice sheets: {figures['sheets']} generated sheets, {figures['cells']} cells",
         ["figure", "value", "goal / detail"], rows, summary)


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.sheets", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--count", type=int, default=None,
                        help="sheets to generate [default: 100; 20 with --quick]")
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--quick", action="store_true", help="20 sheets")
    parser.add_argument("--no-verdicts", action="store_true",
                        help="skip the verifier (no TensorFlow): image-side figures only")
    args = parser.parse_args()
    count = args.count or (20 if args.quick else 100)
    started = time.time()
    figures = run(count=count, seed=args.seed, verdicts=not args.no_verdicts)
    figures["seconds"] = round(time.time() - started)
    for failure in figures["failures"]:
        print(f"not read: {failure}")
    print_figures(figures)


if __name__ == "__main__":
    main()
