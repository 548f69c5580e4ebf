"""A continuation averaged with the model it started from ("model soup", Wortsman et al.
2022): every weight, batch-normalisation statistics included, interpolated linearly.

A gentle continuation of the shipped weights stays in their basin, so the average of the two
is a model too, and it has read real scans better than either end (training journal,
6 December evening). The result is a run folder of its own: ``model.keras`` and the run's
``config.json`` with an ``averaged_with`` entry, so that ``hanzi calibrate`` records the
whole lineage in the bundle's manifest.
"""

from __future__ import annotations

import json
from pathlib import Path

from hanzi_grader.models.training.config import RUN_CONFIG_FILE


def average_with_start(run_dir: Path, out_dir: Path, weight: float = 0.5,
                       start_model: Path | None = None) -> Path:
    """Write ``out_dir/model.keras``: (1 - ``weight``) x the model the run in ``run_dir``
    started from (its ``init_from``, or ``start_model`` if it has moved) + ``weight`` x the
    run's ``model.keras``; a start the run converted (widened, or to another input size) is
    converted again the same way. Returns the file; ``ValueError`` if the run has no finished model,
    or its starting model is missing or not the file it started from."""
    from hanzi_grader.models.bundle import MODEL_FILE
    from hanzi_grader.models.training.train import load_model_file, model_file

    run_dir, out_dir = Path(run_dir), Path(out_dir)
    config_path, trained_path = run_dir / RUN_CONFIG_FILE, run_dir / MODEL_FILE
    if not config_path.is_file() or not trained_path.is_file():
        raise ValueError(f"{run_dir} holds no finished run ({RUN_CONFIG_FILE} and {MODEL_FILE})")
    config = json.loads(config_path.read_text())
    start = config.get("init_from")
    if not start and start_model is None:
        raise ValueError(f"the run in {run_dir} did not start from a model (--init-from)")
    start_path = model_file(start_model or start)
    if not start_path.is_file():
        raise ValueError(f"the run's starting model {start_path} is not on this machine "
                         "(--start names where it is now)")
    _check_same_start(start_path, config.get("init_from_sha256"))
    # The starting model is the container: a bundle's model is already the serving form.
    model, trained = load_model_file(start_path), load_model_file(trained_path)
    if [w.shape for w in model.weights] != [w.shape for w in trained.weights]:
        model = _start_as_the_run_loaded_it(start_path, config)
        if model is None:
            raise ValueError(f"{trained_path} and {start_path} are not the same architecture")
    ours, theirs = model.get_weights(), trained.get_weights()
    model.set_weights([(1.0 - weight) * a + weight * b for a, b in zip(ours, theirs, strict=True)])
    out_dir.mkdir(parents=True, exist_ok=True)
    config["init_from"] = str(start_path)  # where calibrate finds its manifest's lineage
    config["averaged_with"] = {
        "init_from_weight": 1.0 - weight,
        "note": f"weights = {1.0 - weight:g} x init_from + {weight:g} x this run's",
    }
    (out_dir / RUN_CONFIG_FILE).write_text(json.dumps(config, indent=2))
    model.save(out_dir / MODEL_FILE)
    return out_dir / MODEL_FILE


def _start_as_the_run_loaded_it(start_path: Path, config: dict):
    """The run's own starting point when ``--init-from`` converted the start (widened a
    narrower network, or resized its pooling to another input size): rebuilt by the same
    ``load_initial_weights``, from the run's seed, so the soup interpolates between the two
    ends of the run. None if the start cannot be loaded into the run's architecture."""
    from hanzi_grader.models.melnyk_net import build_model
    from hanzi_grader.models.training.datasets import NUM_OUTPUTS
    from hanzi_grader.models.training.train import load_initial_weights

    try:
        model = build_model(config.get("arch") or "", num_classes=NUM_OUTPUTS)
        load_initial_weights(model, start_path, seed=config.get("seed", 0))
    except ValueError:
        return None
    return model


def _check_same_start(path: Path, recorded: str | None) -> None:
    """Refuse a starting file that changed since the run began: a run started from
    ``models/bundle`` names a folder that the next shipped bundle replaces. Runs from before
    the hash was recorded are trusted."""
    from hanzi_grader.models.bundle import file_sha256

    if recorded and file_sha256(path) != recorded:
        raise ValueError(
            f"{path} is not the model this run started from (sha256 {recorded[:12]}... when "
            "it started); pass the original file with --start, e.g. from git history"
        )
