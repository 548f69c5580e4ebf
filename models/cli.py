"""``hanzi recognize``, ``hanzi verify`` and ``hanzi model-summary``: the seed's main.py, made
scriptable.

Bad files get one line on stderr and a non-zero exit status, and never stop the others;
missing files are reported before the model loads, and with nothing left to read the command
stops there. An untrained bundle is announced by a WARNING line on stderr in every command.
"""

from __future__ import annotations

import csv
import os
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path

import click
from hanzi_grader.models.results import Recognition

from hanzi_grader.console import echo_json
from hanzi_grader.errors import ModelUnavailable

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp", ".tif", ".tiff"}
CHUNK = 64  # images per forward pass
TARGET_COLUMNS = ("target", "char")  # "char" reads the real-dev manifest as it is


class Failures:
    """Counts the inputs that failed, each reported once on stderr."""

    def __init__(self) -> None:
        self.count = 0

    def report(self, path: Path | str, message: str) -> None:
        self.count += 1
        text = message if str(path) in message else f"{path}: {message}"
        click.echo(f"Error: {text}", err=True)


def image_files(paths: Sequence[Path], failures: Failures) -> list[Path]:
    """Files as given, plus the images inside folders (any depth, sorted); missing ones fail."""
    files: list[Path] = []
    for path in paths:
        if path.is_dir():
            files.extend(sorted(p for p in path.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES))
        elif path.exists():
            files.append(path)
        else:
            failures.report(path, f"no such file: {path}")
    return files


def import_tensorflow_quietly() -> None:
    """Import TensorFlow with its C++ start-up lines (absl, oneDNN) kept off the terminal.

    TF_CPP_MIN_LOG_LEVEL no longer silences them, and they would bury our one-line messages.
    Python errors still surface: they are raised after stderr is restored.
    """
    if "tensorflow" in sys.modules:
        return
    sys.stderr.flush()
    saved = os.dup(2)
    try:
        with open(os.devnull, "w") as devnull:
            os.dup2(devnull.fileno(), 2)
            import tensorflow  # noqa: F401
    finally:
        os.dup2(saved, 2)
        os.close(saved)


def load_recognizer(model_dir: Path | None):
    """The recognizer, or a one-line error and exit status 2; warns loudly if untrained."""
    import_tensorflow_quietly()
    from hanzi_grader.models.recognizer import Recognizer

    try:
        recognizer = Recognizer.load(model_dir)
    except ModelUnavailable as error:
        click.echo(f"Error: {error}", err=True)
        raise click.exceptions.Exit(2) from None
    if not recognizer.trained:
        click.echo(
            f"WARNING: the model bundle {recognizer.bundle.path} is UNTRAINED (random weights, "
            f"version {recognizer.manifest.version}): its answers are meaningless.",
            err=True,
        )
    return recognizer


def recognize_in_chunks(
    recognizer, files: list[Path], targets: list[str | None] | None, top_n: int
) -> Iterator[tuple[Path, Recognition]]:
    """(file, recognition) in order, ``CHUNK`` images per forward pass, with a progress bar."""
    from hanzi_grader.console import progress

    with progress(total=len(files), unit="img", min_items=CHUNK + 1) as bar:
        for start in range(0, len(files), CHUNK):
            chunk = files[start : start + CHUNK]
            chunk_targets = targets[start : start + CHUNK] if targets is not None else None
            yield from zip(
                chunk, recognizer.recognize(chunk, targets=chunk_targets, top_n=top_n), strict=True
            )
            bar.update(len(chunk))


def percent(confidence: float) -> str:
    return f"{confidence * 100:.3f} %"


def human_recognition(path: Path, recognition: Recognition, trained: bool) -> str:
    marker = "" if trained else "  [untrained model]"
    best, others = recognition.candidates[0], recognition.candidates[1:]
    if recognition.unknown:
        first = f"I don't know this character (best guess {best.char}, {percent(best.confidence)})"
    else:
        first = f"I am {percent(best.confidence)} sure it's {best.char}"
    lines = [f"{path}{marker}", f"  {first}"]
    if others:
        lines.append("  then: " + ", ".join(f"{c.char} {percent(c.confidence)}" for c in others))
    return "\n".join(lines)


def write_cam(recognizer, path: Path, recognition: Recognition, cam_dir: Path, index: int) -> Path:
    from hanzi_grader.models.charset import index_of

    cam_dir.mkdir(parents=True, exist_ok=True)
    out = cam_dir / f"{index:04d}-{path.stem}-cam.png"
    recognizer.cam(path, index_of(recognition.candidates[0].char)).save(out)
    return out


model_option = click.option(
    "--model",
    "model_dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Model bundle directory (default: HANZI_MODEL_DIR, else the shipped bundle).",
)
json_option = click.option("--json", "as_json", is_flag=True, help="One JSON object per line.")


@click.command()
@click.argument("paths", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("-n", "top_n", type=click.IntRange(1, 3755), default=5, show_default=True,
              help="How many candidates per image.")  # fmt: skip
@json_option
@click.option("--cam", "cam_dir", type=click.Path(file_okay=False, path_type=Path),
              help="Write a class activation heat map PNG per image into this folder.")  # fmt: skip
@model_option
def recognize(
    paths: tuple[Path, ...], top_n: int, as_json: bool, cam_dir: Path | None, model_dir: Path | None
) -> None:
    """Print the n most likely characters of each image (files or folders)."""
    failures = Failures()
    files = image_files(paths, failures)
    if not files:
        raise click.exceptions.Exit(1)  # every path failed: no need to load the model
    recognizer = load_recognizer(model_dir)
    for index, (path, recognition) in enumerate(
        recognize_in_chunks(recognizer, files, None, top_n)
    ):
        if not recognition.ok:
            failures.report(path, recognition.error or "unusable image")
            continue
        if as_json:
            candidates = [
                {"char": c.char, "confidence": c.confidence} for c in recognition.candidates
            ]
            record = {"path": str(path), "candidates": candidates, "unknown": recognition.unknown}
            echo_json(record)
        else:
            click.echo(human_recognition(path, recognition, recognizer.trained))
        if cam_dir is not None:
            written = write_cam(recognizer, path, recognition, cam_dir, index)
            if not as_json:
                click.echo(f"  heat map: {written}")
    if failures.count:
        raise click.exceptions.Exit(1)


def read_targets(csv_path: Path) -> tuple[list[Path], list[str]]:
    """(files, targets) from a CSV with ``file`` and ``target`` (or ``char``) columns.

    Relative file names are relative to the CSV's folder.
    """
    try:
        with csv_path.open(newline="", encoding="utf-8-sig") as stream:
            reader = csv.DictReader(stream)
            columns = reader.fieldnames or []
            column = next((c for c in TARGET_COLUMNS if c in columns), None)
            if "file" not in columns or column is None:
                raise click.UsageError(
                    f"{csv_path} needs 'file' and 'target' columns; it has {columns}"
                )
            rows = [(row["file"], row[column]) for row in reader]
    except OSError as error:
        raise click.UsageError(f"cannot read {csv_path}: {error.strerror or error}") from None
    files = [Path(name) if Path(name).is_absolute() else csv_path.parent / name for name, _ in rows]
    return files, [target for _, target in rows]


@click.command()
@click.argument("paths", nargs=-1, type=click.Path(path_type=Path))
@click.option("--target", help="The character every image should be.")
@click.option("--targets", "targets_csv", type=click.Path(dir_okay=False, path_type=Path),
              help="CSV with file,target columns: each image against its own target.")  # fmt: skip
@json_option
@model_option
def verify(
    paths: tuple[Path, ...],
    target: str | None,
    targets_csv: Path | None,
    as_json: bool,
    model_dir: Path | None,
) -> None:
    """Check images against their target characters."""
    if (target is None) == (targets_csv is None):
        raise click.UsageError("give either --target CHAR with image paths, or --targets FILE.csv")
    failures = Failures()
    if targets_csv is not None:
        if paths:
            raise click.UsageError("--targets FILE.csv names the images; give no paths with it")
        rows = list(zip(*read_targets(targets_csv), strict=True))
        for path in [path for path, _ in rows if not path.is_file()]:
            failures.report(path, f"no such file: {path}")
        files = [path for path, _ in rows if path.is_file()]
        targets = [each for path, each in rows if path.is_file()]
    else:
        if not paths:
            raise click.UsageError("give the image files or folders to check against --target")
        files = image_files(paths, failures)
        targets = [target] * len(files)
    if not files:
        raise click.exceptions.Exit(1)  # every path failed: no need to load the model
    recognizer = load_recognizer(model_dir)
    for path, recognition in recognize_in_chunks(recognizer, files, targets, top_n=1):
        if not recognition.ok:
            failures.report(path, recognition.error or "unusable image")
            continue
        best = recognition.candidates[0]
        record = {
            "path": str(path),
            "target": recognition.target,
            "verdict": str(recognition.verdict),
            "similarity": recognition.similarity,
            "predicted": best.char,
            "confidence": best.confidence,
            "missing_stroke": (recognition.missing_stroke.to_dict()
                               if recognition.missing_stroke else None),
        }
        if as_json:
            echo_json(record)
        else:
            similarity = (
                "n/a" if recognition.similarity is None else f"{recognition.similarity:.3f}"
            )
            marker = "" if recognizer.trained else "  [untrained model]"
            click.echo(
                f"{path}: {recognition.verdict} for {recognition.target} "
                f"(similarity {similarity}; best guess {best.char} {percent(best.confidence)})"
                f"{marker}{missing_stroke_note(recognition)}"
            )
    if failures.count:
        raise click.exceptions.Exit(1)


def missing_stroke_note(recognition: Recognition) -> str:
    """``"; missing stroke 3, 点"`` (counted from 1, as a learner counts) or nothing."""
    missing = recognition.missing_stroke
    if missing is None:
        return ""
    return (f"; missing stroke {missing.index + 1}, {missing.kind} "
            f"({missing.confidence:.0%} sure)")


@click.command("model-summary")
@click.option("--arch", default="melnyk-net", show_default=True,
              help="melnyk-net, melnyk-compact-96, -64, -64-wide5, -48, "
                   "melnyk-tiny-32.")
@click.option("--classes", type=click.IntRange(1), default=3755, show_default=True,
              help="Output classes (3756 with the Unknown class).")  # fmt: skip
def model_summary(arch: str, classes: int) -> None:
    """Print the Keras summary of an architecture."""
    import_tensorflow_quietly()
    from hanzi_grader.models.melnyk_net import ARCHITECTURES, build_model

    if arch not in ARCHITECTURES:
        raise click.BadParameter(
            f"{arch!r}; known: {', '.join(ARCHITECTURES)}", param_hint="--arch"
        )
    # Plain text (print_fn), and wide enough for the Param # column: rich reads COLUMNS.
    os.environ.setdefault("COLUMNS", "110")
    build_model(arch, classes).summary(
        line_length=100, print_fn=lambda text, line_break=True: click.echo(text)
    )
