"""Training commands of ``hanzi``: fetch the stroke data, look at synthetic samples."""

from __future__ import annotations

from pathlib import Path

import click
from hanzi_grader.models.training.config import CalibrationConfig, TrainConfig, default_of

from hanzi_grader.errors import HanziError

DEFAULT_SHEET_CHARS = "安完宏你好学中国大人"


# Option defaults come from the config dataclasses: one place for each, which the Python API
# and the command line share.
def _train(name: str) -> object:
    return default_of(TrainConfig, name)


def _calibration(name: str) -> object:
    return default_of(CalibrationConfig, name)


@click.command("fetch-strokes")
@click.option(
    "--cache-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Where to unpack the package (default: HANZI_CACHE_DIR/hanzi-writer-data-<version>).",
)
def fetch_strokes(cache_dir: Path | None) -> None:
    """Fetch the pinned hanzi-writer-data package with npm and build the stroke cache."""
    from hanzi_grader.models.training.strokes import fetch_strokes as fetch

    try:
        cache_file = fetch(cache_dir)
    except HanziError as error:
        raise click.ClickException(str(error)) from None
    click.echo(f"stroke data cached in {cache_file}")


@click.command("contact-sheet")
@click.argument("out", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--chars", default=DEFAULT_SHEET_CHARS, show_default=True,
              help="Characters, one row each.")
@click.option("--n", "columns", type=click.IntRange(1, 64), default=8, show_default=True,
              help="Variations per row.")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--size", type=click.IntRange(16, 512), default=96, show_default=True,
              help="Longest side of each sample in pixels.")
@click.option("--heldout", is_flag=True,
              help="Use the held-out fonts and the harsher stress handwriting regime.")
@click.option("--trajectories", "trajectory_dir",
              type=click.Path(exists=True, file_okay=False, path_type=Path), default=None,
              help="Add a row of real writers' renders per character from this olhwdb11 "
                   "folder.")
@click.option("--beside", type=click.Path(exists=True, path_type=Path), default=None,
              help="Add a row of this labelled set's images per character (e.g. "
                   "../shared/real-dev/manifest.csv), to compare the renders with real scans.")
def contact_sheet(
    out: Path, chars: str, columns: int, seed: int, size: int, heldout: bool,
    trajectory_dir: Path | None, beside: Path | None,
) -> None:
    """Write a PNG grid of samples: rows are characters, columns variations.

    Each character gets a pen, a brush and a font row (and, when asked, rows of real
    writers' renders and of real scans); an Unknown row and a row of one-stroke-missing
    samples close the sheet.
    """
    from hanzi_grader.models.training.contact_sheet import write_contact_sheet

    try:
        write_contact_sheet(out, chars, columns=columns, seed=seed, size=size, heldout=heldout,
                            trajectory_dir=trajectory_dir, beside=beside)
    except (HanziError, ValueError, KeyError) as error:
        # KeyError's str() adds quotes around its message.
        message = error.args[0] if isinstance(error, KeyError) and error.args else str(error)
        raise click.ClickException(str(message)) from None
    click.echo(f"wrote {out}")


@click.command("train")
@click.argument("run_dir", type=click.Path(file_okay=False, path_type=Path))
@click.option("--arch", default=_train("arch"), show_default=True,
              help="Architecture (see `hanzi model-summary --help`).")
@click.option("--classes", default=None,
              help="Characters to train on: 'first:N' or the characters themselves "
                   "(default: all 3755).")
@click.option("--samples-per-class", type=click.IntRange(1),
              default=_train("samples_per_class"), show_default=True,
              help="Training length, in synthetic samples per class.")
@click.option("--batch-size", type=click.IntRange(1), default=_train("batch_size"),
              show_default=True)
@click.option("--steps-per-epoch", type=click.IntRange(1),
              default=_train("steps_per_epoch"), show_default=True,
              help="Steps between checkpoints; a killed run resumes from the last one.")
@click.option("--optimizer", type=click.Choice(["adamw", "sgd"]),
              default=_train("optimizer"), show_default=True,
              help="'sgd' is the seed's recipe (momentum 0.9, step decay).")
@click.option("--learning-rate", type=float, default=None,
              help="Peak learning rate (default: 2e-3 for adamw, 0.1 for sgd).")
@click.option("--warmup-steps", type=click.IntRange(0),
              default=_train("warmup_steps"), show_default=True)
@click.option("--ema-momentum", type=click.FloatRange(0, 1, max_open=True),
              default=_train("ema_momentum"), show_default=True,
              help="Save a moving average of the weights with this momentum (e.g. 0.999) "
                   "instead of the last step's; 0: off.")
@click.option("--unknown-fraction", type=click.FloatRange(0, 0.5),
              default=_train("unknown_fraction"), show_default=True,
              help="Share of Unknown (non-character) samples.")
@click.option("--incomplete-fraction", type=click.FloatRange(0, 0.5),
              default=_train("incomplete_fraction"), show_default=True,
              help="Share of characters with a stroke left out, labelled Unknown.")
@click.option("--workers", type=click.IntRange(1), default=_train("workers"),
              show_default=True, help="Processes synthesising batches beside the training step.")
@click.option("--real-fraction", type=click.FloatRange(0, 1),
              default=_train("real_fraction"), show_default=True,
              help="Share of class samples drawn from real writers' trajectories (the rest "
                   "synthetic); 0 is the synthetic-only recipe, whose weights carry no "
                   "data-set terms.")
@click.option("--trajectories", "trajectory_dir",
              type=click.Path(exists=True, file_okay=False, path_type=Path), default=None,
              help="The olhwdb11 folder of part-NN.npz files (default: HANZI_TRAJECTORIES, "
                   "else ../shared/olhwdb11 beside the checkout). Writers 1221-1240 are held "
                   "out for validation.")
@click.option("--writer-weights", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              default=None,
              help="A JSON file of writer number to weight (`hanzi writer-weights` writes one): "
                   "real samples are drawn in proportion to their writer's weight.")
@click.option("--small-renders", "small_render_fraction", type=click.FloatRange(0, 1),
              default=_train("small_render_fraction"), show_default=True,
              help="Share of samples drawn at 45-90 % of the input size and enlarged, soft "
                   "as small scanned cells are at a large input (e.g. 0.5 at 96 px).")
@click.option("--gnt", "gnt_files", multiple=True,
              type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="Train on CASIA-HWDB .gnt files instead of synthetic handwriting.")
@click.option("--init-from", type=click.Path(exists=True, path_type=Path), default=None,
              help="Start from this model's weights (a .keras file or a bundle directory of "
                   "the same architecture, of the same channels on another input size, or of "
                   "a narrower variant on the same input, widened), e.g. to continue training "
                   "the shipped bundle, to move it to 64 px or to melnyk-compact-64-wide5.")
@click.option("--freeze-blocks", "frozen_blocks", type=click.IntRange(0, 5),
              default=_train("frozen_blocks"), show_default=True,
              help="Keep blocks 1..N as --init-from has them; trains about twice as fast "
                   "with 2.")
@click.option("--mixed-precision/--no-mixed-precision",
              default=_train("mixed_precision"), show_default=True,
              help="bfloat16 compute: faster on GPUs and CPUs with AVX-512 BF16 or AMX "
                   "(1.4x with --xla on AVX-512 BF16); emulated on other CPUs (about 6x "
                   "slower than float32 without --xla, about as fast with it).")
@click.option("--xla/--no-xla", default=_train("xla"), show_default=True,
              help="Compile the training step with XLA: 1.3-2x faster in float32 on an AVX2 "
                   "CPU (Keras leaves it off on CPUs).")
@click.option("--seed", type=int, default=_train("seed"), show_default=True)
def train_command(run_dir: Path, classes: str | None, gnt_files: tuple[Path, ...],
                  **options) -> None:
    """Train a classifier into RUN_DIR (resumes a stopped run in the same RUN_DIR).

    Then `hanzi calibrate RUN_DIR/model.keras BUNDLE` builds the templates and thresholds.
    """
    from hanzi_grader.models.training.train import parse_classes, train

    try:
        cfg = TrainConfig(run_dir=run_dir, classes=parse_classes(classes),
                          gnt_files=list(gnt_files), **options)
        click.echo(f"{cfg.arch}: {len(cfg.classes)} classes, {cfg.epochs} epochs of "
                   f"{cfg.steps_per_epoch} steps, batch {cfg.batch_size}; log in "
                   f"{run_dir / 'log.jsonl'}")
        model_path = train(cfg)
    except (HanziError, ValueError) as error:
        raise click.ClickException(str(error)) from None
    click.echo(f"trained model: {model_path}")


@click.command("average-weights")
@click.argument("run_dir", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.argument("out_dir", type=click.Path(file_okay=False, path_type=Path))
@click.option("--weight", type=click.FloatRange(0, 1), default=0.5, show_default=True,
              help="Share of the run's own weights; the rest is the model it started from.")
@click.option("--start", "start_model", type=click.Path(exists=True, path_type=Path),
              default=None, help="The model the run started from, if it is no longer where "
              "the run's config says (a .keras file or a bundle folder).")
def average_weights_command(run_dir: Path, out_dir: Path, weight: float,
                            start_model: Path | None) -> None:
    """Average a finished continuation in RUN_DIR with the model it started from into OUT_DIR.

    Then `hanzi calibrate OUT_DIR/model.keras BUNDLE` as for a run.
    """
    from hanzi_grader.models.training.soup import average_with_start

    try:
        path = average_with_start(run_dir, out_dir, weight, start_model)
    except ValueError as error:
        raise click.ClickException(str(error)) from None
    click.echo(f"averaged model: {path}")


@click.command("compare-models")
@click.argument("models", nargs=-1, required=True,
                type=click.Path(exists=True, path_type=Path))
@click.option("--samples", type=click.IntRange(100), default=3000, show_default=True,
              help="Renders of the calibration writers' characters, the same for every model.")
@click.option("--trajectories", "trajectory_dir",
              type=click.Path(exists=True, file_okay=False, path_type=Path), default=None,
              help="The olhwdb11 folder (default: HANZI_TRAJECTORIES, else ../shared/olhwdb11).")
def compare_models_command(models: tuple[Path, ...], samples: int,
                           trajectory_dir: Path | None) -> None:
    """Top-1/top-5 of MODELS (.keras files, run folders or bundles) on the calibration
    writers, to choose which to calibrate: e.g. a continuation, its start and their averages.

    The evaluation writers and real-dev stay out of the choice, so they still judge it.
    """
    from hanzi_grader.models.training.compare import compare_models, format_scores
    from hanzi_grader.models.training.trajectories import resolve_trajectory_dir

    try:
        scores = compare_models(list(models), samples, resolve_trajectory_dir(trajectory_dir))
    except (HanziError, ValueError, OSError) as error:
        raise click.ClickException(str(error)) from None
    click.echo(format_scores(scores))


@click.command("writer-weights")
@click.argument("model", type=click.Path(exists=True, path_type=Path))
@click.argument("out", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--per-writer", type=click.IntRange(10), default=60, show_default=True,
              help="Renders of each training writer that the model reads.")
@click.option("--trajectories", "trajectory_dir",
              type=click.Path(exists=True, file_okay=False, path_type=Path), default=None,
              help="The olhwdb11 folder (default: HANZI_TRAJECTORIES, else ../shared/olhwdb11).")
def writer_weights_command(model: Path, out: Path, per_writer: int,
                           trajectory_dir: Path | None) -> None:
    """Write OUT, a JSON weight per training writer: more for the writers MODEL (a .keras
    file, run folder or bundle) reads worst, for `hanzi train --writer-weights OUT`."""
    from hanzi_grader.models.training.trajectories import resolve_trajectory_dir
    from hanzi_grader.models.training.writer_weights import write_writer_weights

    try:
        top1 = write_writer_weights(model, out, resolve_trajectory_dir(trajectory_dir),
                                    per_writer)
    except (HanziError, ValueError, OSError) as error:
        raise click.ClickException(str(error)) from None
    values = list(top1.values())
    click.echo(f"{len(values)} writers, top-1 {sum(values) / len(values):.2%} on average, "
               f"{min(values):.0%} to {max(values):.0%}; weights in {out}")


@click.command("calibrate")
@click.argument("model_file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.argument("bundle_dir", type=click.Path(file_okay=False, path_type=Path))
@click.option("--arch", default=_train("arch"), show_default=True,
              help="The architecture MODEL_FILE was trained as (recorded in the manifest).")
@click.option("--version", "version", default=None,
              help="Bundle version (default: <arch>-<date>).")
@click.option("--templates-per-class", type=click.IntRange(1),
              default=_calibration("templates_per_class"), show_default=True)
@click.option("--cases", "calibration_cases", type=click.IntRange(100),
              default=_calibration("calibration_cases"), show_default=True,
              help="Size of the calibration set.")
@click.option("--stress-cases", type=click.IntRange(0),
              default=_calibration("stress_cases"), show_default=True,
              help="Cases in the harsher stress regime whose correct renders count against "
              "the 3 % of correct input that may be flagged Unknown (0: none).")
@click.option("--false-accept", type=click.FloatRange(0, 0.5),
              default=_calibration("false_accept"), show_default=True,
              help="Stated share of wrong characters (and of out-of-set input) let through.")
@click.option("--incomplete-false-accept", type=click.FloatRange(0, 1),
              default=_calibration("incomplete_false_accept"), show_default=True,
              help="Stated share of one-stroke-missing renders accepted.")
@click.option("--stroke-renders", type=click.IntRange(0),
              default=_calibration("stroke_renders"), show_default=True,
              help="Renders per class and stroke left out, for the stroke templates "
              "(0: none; 24 take about 35 minutes on 2 cores, 8 about 12 and accept a point "
              "fewer correct renders).")
@click.option("--reference-renders", type=click.IntRange(1),
              default=_calibration("reference_renders"), show_default=True,
              help="Whole pen renders per class that the stroke templates are measured from "
              "(fewer leave the stroke margin noisy).")
@click.option("--workers", type=click.IntRange(1),
              default=_calibration("workers"), show_default=True,
              help="Processes rendering the stroke templates.")
@click.option("--outside-renders", type=click.IntRange(0),
              default=_calibration("outside_renders"), show_default=True,
              help="Renders per character outside the 3755, for the templates that flag "
              "out-of-set input Unknown (0: none; 5 take about 4 minutes).")
@click.option("--missing-stroke-cases", type=click.IntRange(0),
              default=_calibration("missing_stroke_cases"), show_default=True,
              help="One-stroke-missing renders (synthetic, and of the calibration writers) "
              "on which the thresholds for naming the missing stroke are chosen (0: keep "
              "the defaults; needs stroke templates).")
@click.option("--real-fraction", type=click.FloatRange(0, 1),
              default=_calibration("real_fraction"), show_default=True,
              help="Share of class templates (training writers) and calibration cases "
                   "(calibration writers 1221-1230) drawn from real trajectories; 0: all "
                   "synthetic.")
@click.option("--trajectories", "trajectory_dir",
              type=click.Path(exists=True, file_okay=False, path_type=Path), default=None,
              help="The olhwdb11 folder (default: HANZI_TRAJECTORIES, else ../shared/olhwdb11).")
def calibrate_command(model_file: Path, bundle_dir: Path, arch: str, version: str | None,
                      **options) -> None:
    """Build templates and thresholds for a trained MODEL_FILE and write BUNDLE_DIR.

    Templates come from fresh renders of every class, thresholds from a separate calibration
    set; neither was ever trained on.
    """
    import datetime
    import json

    from hanzi_grader.models.training.calibrate import calibrate
    from hanzi_grader.models.training.train import training_record

    version = version or f"{arch}-{datetime.date.today().isoformat()}"
    try:
        path, report = calibrate(model_file, bundle_dir, arch=arch, version=version,
                                 cfg=CalibrationConfig(**options),
                                 training=training_record(model_file.parent))
    except (HanziError, ValueError, OSError) as error:
        raise click.ClickException(str(error)) from None
    click.echo(json.dumps(report["rates"], indent=2))
    click.echo(f"wrote bundle {path}")


@click.command("quantize")
@click.argument("bundle_dir", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--samples", type=click.IntRange(16), default=1000, show_default=True,
              help="Renders of the training mix on which the int8 ranges are measured.")
@click.option("--real-fraction", type=click.FloatRange(0, 1), default=1.0, show_default=True,
              help="Share of those renders drawn from the training writers' trajectories; "
                   "0: all synthetic.")
@click.option("--trajectories", "trajectory_dir",
              type=click.Path(exists=True, file_okay=False, path_type=Path), default=None,
              help="The olhwdb11 folder (default: HANZI_TRAJECTORIES, else ../shared/olhwdb11).")
def quantize_command(bundle_dir: Path, samples: int, real_fraction: float,
                     trajectory_dir: Path | None) -> None:
    """Add an int8 copy of BUNDLE_DIR's network for OpenVINO (about 2x on a CPU), served with
    HANZI_INFERENCE_PRECISION=int8; rewrites the manifest, leaves the rest as it was."""
    import json

    from hanzi_grader.models.training.quantize import quantize_bundle

    try:
        record = quantize_bundle(bundle_dir, samples=samples, real_fraction=real_fraction,
                                 trajectory_dir=trajectory_dir)
    except (HanziError, ValueError, OSError) as error:
        raise click.ClickException(str(error)) from None
    click.echo(json.dumps(record, indent=2))
    click.echo(f"int8 network written to {bundle_dir}; its top-1 agrees with float32's on "
               f"{record['top1_agreement']:.1%} of held-out renders")


@click.command("calibrate-missing-stroke")
@click.argument("bundle_dir", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--cases", type=click.IntRange(20), default=_calibration("missing_stroke_cases"),
              show_default=True,
              help="One-stroke-missing renders of the synthesiser, and of the calibration "
                   "writers, to choose on.")
@click.option("--trajectories", "trajectory_dir",
              type=click.Path(exists=True, file_okay=False, path_type=Path), default=None,
              help="The olhwdb11 folder (default: HANZI_TRAJECTORIES, else ../shared/olhwdb11; "
                   "without one, synthetic renders only).")
def calibrate_missing_stroke_command(bundle_dir: Path, cases: int,
                                     trajectory_dir: Path | None) -> None:
    """Choose BUNDLE_DIR's thresholds for naming the missing stroke, as `hanzi calibrate`
    does, and rewrite its manifest: for a bundle calibrated before strokes were named, in a
    minute rather than a whole calibration."""
    import json

    from hanzi_grader.models.bundle import load_bundle, write_manifest
    from hanzi_grader.models.training.missing_strokes import calibrate_missing_strokes
    from hanzi_grader.models.training.trajectories import default_trajectory_dir

    try:
        bundle = load_bundle(bundle_dir)
        if not len(bundle.stroke_templates):
            raise click.ClickException(f"{bundle_dir} has no stroke templates: nothing to name")
        manifest = bundle.manifest
        manifest.thresholds, report = calibrate_missing_strokes(
            bundle.model, manifest.input_size, cases, bundle.templates, manifest.thresholds,
            bundle.stroke_templates, bundle.outside_templates,
            trajectory_dir or default_trajectory_dir())
    except HanziError as error:
        raise click.ClickException(str(error)) from None
    manifest.evaluation.setdefault("calibration", {})["missing_stroke"] = report
    write_manifest(bundle_dir, manifest)
    click.echo(json.dumps({"missing_stroke_sharpness": manifest.thresholds.missing_stroke_sharpness,
                           "missing_stroke_confidence":
                               manifest.thresholds.missing_stroke_confidence, **report},
                          indent=2, ensure_ascii=False))


def _default_real_dev() -> Path | None:
    """../shared/real-dev beside the checkout, where the project's evaluation images live."""
    candidate = Path(__file__).resolve().parents[2].parent / "shared/real-dev/manifest.csv"
    return candidate if candidate.exists() else None


@click.command("evaluate")
@click.argument("bundle_dir", type=click.Path(exists=True, file_okay=False, path_type=Path),
                required=False)
@click.option("--set", "sets", multiple=True, metavar="[NAME=]PATH",
              help="A labelled set: a folder of per-character folders, a file,char CSV or a "
                   ".gnt file. Repeatable. ../shared/real-dev is added when present.")
@click.option("--synthetic", type=click.IntRange(0), default=3000, show_default=True,
              help="Held-out synthetic samples (0: skip).")
@click.option("--verifier-cases", type=click.IntRange(0), default=3000, show_default=True,
              help="Held-out verification cases (0: skip).")
@click.option("--writers", type=click.IntRange(0), default=3000, show_default=True,
              help="Samples of the evaluation writers (1231-1240 of the olhwdb11 parts, held "
                   "out of training and calibration), and as many verification cases of them "
                   "(0: skip; skipped too where the parts are not found).")
@click.option("--trajectories", "trajectory_dir",
              type=click.Path(exists=True, file_okay=False, path_type=Path), default=None,
              help="The olhwdb11 folder (default: HANZI_TRAJECTORIES, else ../shared/olhwdb11).")
@click.option("--missing-stroke-cases", type=click.IntRange(0), default=300, show_default=True,
              help="One-stroke-missing renders of the synthesiser and of the evaluation "
                   "writers each: how often an incomplete verdict names the missing stroke, "
                   "and how often rightly (0: skip).")
@click.option("--no-speed", is_flag=True, help="Skip the throughput measurement.")
@click.option("--json-out", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Also write the report as JSON here.")
def evaluate_command(bundle_dir: Path | None, sets: tuple[str, ...], synthetic: int,
                     verifier_cases: int, writers: int, trajectory_dir: Path | None,
                     missing_stroke_cases: int, no_speed: bool, json_out: Path | None) -> None:
    """Top-1/top-5 accuracy and verifier rates of BUNDLE_DIR (default: the shipped bundle)."""
    import json

    from hanzi_grader.models.recognizer import Recognizer
    from hanzi_grader.models.training.evaluate import evaluate, format_report

    named: dict[str, Path] = {}
    real_dev = _default_real_dev()
    if real_dev is not None:
        named["real-dev"] = real_dev
    for spec in sets:
        name, _, path = spec.rpartition("=")
        named[name or Path(path).stem] = Path(path)
    from hanzi_grader.models.training.trajectories import default_trajectory_dir

    trajectory_dir = trajectory_dir or default_trajectory_dir()
    if writers and trajectory_dir is None:
        click.echo("no olhwdb11 parts found (--trajectories): held-out writers skipped", err=True)
    try:
        recognizer = Recognizer.load(bundle_dir)
        report = evaluate(recognizer, synthetic=synthetic, verifier_cases=verifier_cases,
                          sets=named, speed=not no_speed, writers=writers,
                          trajectory_dir=trajectory_dir,
                          missing_stroke_cases=missing_stroke_cases)
    except HanziError as error:
        raise click.ClickException(str(error)) from None
    click.echo(format_report(report))
    if json_out is not None:
        json_out.write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n")
        click.echo(f"wrote {json_out}")
