"""The ``hanzi`` command.

Sub-commands are imported only when they run, so that ``hanzi submit`` or ``hanzi history``
never pay for importing TensorFlow. Each module named in ``COMMANDS`` owns its commands.
"""

from __future__ import annotations

import importlib
import logging
import os
import sys

import click

from hanzi_grader import __version__

# command name -> ("module:attribute" of a click command, the module under hanzi_grader;
#                  one-line help for `hanzi --help`)
COMMANDS: dict[str, tuple[str, str]] = {
    "recognize": ("models.cli:recognize", "Print the n most likely characters of each image."),
    "verify": ("models.cli:verify", "Check images against their target characters."),
    "model-summary": ("models.cli:model_summary", "Print the Keras summary of an architecture."),
    "fetch-strokes": ("models.training.cli:fetch_strokes", "Fetch the stroke data (npm pack)."),
    "contact-sheet": ("models.training.cli:contact_sheet", "Write a PNG of synthetic samples."),
    "train": ("models.training.cli:train_command", "Train a classifier on synthetic handwriting."),
    "average-weights": ("models.training.cli:average_weights_command",
                        "Average a continuation with the model it started from."),
    "compare-models": ("models.training.cli:compare_models_command",
                       "Score models on the calibration writers, to choose one."),
    "writer-weights": ("models.training.cli:writer_weights_command",
                       "Weigh training writers by how badly a model reads them."),
    "calibrate": ("models.training.cli:calibrate_command", "Build templates and thresholds."),
    "calibrate-missing-stroke": ("models.training.cli:calibrate_missing_stroke_command",
                                 "Choose a bundle's thresholds for naming missing strokes."),
    "quantize": ("models.training.cli:quantize_command",
                 "Add an int8 copy of a bundle's network (2x on CPUs)."),
    "evaluate": ("models.training.cli:evaluate_command", "Measure accuracy and verifier rates."),
    "worker": ("worker.cli:worker", "Start a batching recognition worker."),
    "webhook-worker": ("worker.cli:webhook_worker", "Deliver the HTTP API's webhooks."),
    "submit": ("producer.cli:submit", "Submit images as recognition jobs."),
    "history": ("producer.cli:history", "Show a student's attempt history."),
    "reviews": ("producer.reviews:reviews_group", "Export teachers' reviews as a labelled set."),
    "status": ("producer.cli:status", "Show the broker, its workers and the jobs waiting."),
    "demo": ("producer.cli:demo", "Run the whole path on the example images."),
    "grade-sheet": ("producer.sheets.cli:grade_sheet", "Grade scanned practice sheets."),
    "make-sheets": ("producer.sheets.cli:make_sheets", "Write synthetic scanned sheets."),
    "api": ("api.cli:api", "Serve the HTTP API for learning platforms."),
    "api-key": ("api.cli:api_key", "Create, list and revoke API keys for the HTTP API."),
    "db": ("database:db", "Database schema commands (upgrade, downgrade)."),
}


class LazyGroup(click.Group):
    """A click group whose commands are imported on first use (click's documented pattern)."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in COMMANDS:
            return None
        module_name, attr = COMMANDS[cmd_name][0].split(":")
        return getattr(importlib.import_module(f"hanzi_grader.{module_name}"), attr)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        # Listing must not import the commands (that would import TensorFlow for --help).
        with formatter.section("Commands"):
            formatter.write_dl([(name, COMMANDS[name][1]) for name in self.list_commands(ctx)])


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="hanzi")
@click.option("-v", "--verbose", is_flag=True, help="Log debug information to stderr.")
def cli(verbose: bool) -> None:
    """hanzi-grader: recognise and grade handwritten Chinese characters."""
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )


def main() -> None:
    # TensorFlow's C++ start-up chatter is noise for a command-line user.
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    sys.exit(cli.main(prog_name="hanzi", standalone_mode=True))


if __name__ == "__main__":
    main()
