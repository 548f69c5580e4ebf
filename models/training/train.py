"""Training: synthetic handwriting (or CASIA-HWDB .gnt files) -> a Keras classifier.

The data are generated on the fly by worker processes (Keras ``PyDataset``), each batch from
its own seed, so that a run is reproducible and resumes where it stopped: an "epoch" here is a
fixed number of steps, and Keras' ``BackupAndRestore`` saves the whole training state (weights,
optimiser, epoch) at the end of each one.
"""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path

from hanzi_grader.models.charset import CLASSES
from hanzi_grader.models.training.config import RUN_CONFIG_FILE, TrainConfig
from hanzi_grader.models.training.datasets import NUM_OUTPUTS

log = logging.getLogger(__name__)


def _keras():
    import keras

    return keras


def make_dataset(cfg: TrainConfig, input_size: int):
    """The training batches: .gnt files when given, else synthetic handwriting."""
    if cfg.gnt_files:
        from hanzi_grader.models.training.datasets import GntBatches

        return GntBatches(cfg.gnt_files, input_size, cfg.batch_size, seed=cfg.seed)
    from hanzi_grader.models.training.datasets import SyntheticBatches

    return SyntheticBatches(
        classes=cfg.classes,
        input_size=input_size,
        batch_size=cfg.batch_size,
        steps_per_epoch=cfg.steps_per_epoch,
        seed=cfg.seed,
        unknown_fraction=cfg.unknown_fraction,
        incomplete_fraction=cfg.incomplete_fraction,
        real_fraction=cfg.real_fraction,
        trajectory_dir=str(cfg.trajectory_dir) if cfg.trajectory_dir else None,
        writer_weights=str(cfg.writer_weights) if cfg.writer_weights else None,
        small_render_fraction=cfg.small_render_fraction,
        workers=cfg.workers,
    )


def build_optimizer(cfg: TrainConfig):
    """AdamW with warm-up and cosine decay by default; the seed's SGD recipe on request.

    The warm-up matters: 3755-way training from scratch sits on the ln(3755) plateau for a
    long time when the first steps are large.
    """
    keras = _keras()
    total = max(cfg.total_steps, cfg.warmup_steps + 1)
    if cfg.optimizer == "sgd":
        lr = cfg.learning_rate or 0.1
        boundaries = [int(total * f) for f in (0.5, 0.75, 0.9)]
        values = [lr, lr * 0.1, lr * 0.01, lr * 0.001]
        schedule = keras.optimizers.schedules.PiecewiseConstantDecay(boundaries, values)
        return keras.optimizers.SGD(learning_rate=schedule, momentum=0.9, nesterov=True,
                                    **_ema_options(cfg))
    if cfg.optimizer != "adamw":
        raise ValueError(f"unknown optimizer {cfg.optimizer!r}; choose 'adamw' or 'sgd'")
    lr = cfg.learning_rate or 2e-3
    schedule = keras.optimizers.schedules.CosineDecay(
        initial_learning_rate=lr * 0.01,
        decay_steps=total - cfg.warmup_steps,
        alpha=0.02,
        warmup_target=lr,
        warmup_steps=cfg.warmup_steps,
    )
    return keras.optimizers.AdamW(learning_rate=schedule, weight_decay=1e-4, clipnorm=5.0,
                                  **_ema_options(cfg))


def _ema_options(cfg: TrainConfig) -> dict:
    if not cfg.ema_momentum:
        return {}
    return {"use_ema": True, "ema_momentum": cfg.ema_momentum}


class ThroughputLogger:
    """Adds ``img/s`` to the progress bar, says how long the run has left after each epoch,
    and writes one JSON line per epoch to the run log."""

    def __new__(cls, batch_size: int, log_path: Path):
        keras = _keras()

        class _Callback(keras.callbacks.Callback):
            time_left = ""  # what the last epoch's end found; none before the first

            def on_epoch_begin(self, epoch, logs=None):
                # said here, not at the epoch's end, where Keras's bar has not ended its line
                if self.time_left and (self.params or {}).get("verbose"):
                    print(self.time_left, flush=True)
                self.start = time.perf_counter()
                self.seen = 0

            def on_train_batch_end(self, batch, logs=None):
                self.seen += batch_size
                if logs is not None:
                    logs["img/s"] = self.seen / max(time.perf_counter() - self.start, 1e-9)

            def on_epoch_end(self, epoch, logs=None):
                elapsed = max(time.perf_counter() - self.start, 1e-9)
                record = {"epoch": epoch + 1, "time": time.time()}
                record.update({k: float(v) for k, v in (logs or {}).items()})
                record["img/s"] = round(self.seen / elapsed, 1)
                # Keras's bar times one epoch; how long the whole run has left decides
                # whether it fits the time there is, so say it before the next epoch.
                epochs_left = (self.params or {}).get("epochs", epoch + 1) - epoch - 1
                record["epochs_left"] = epochs_left
                record["minutes_left"] = round(epochs_left * elapsed / 60, 1)
                self.time_left = (
                    f"{epochs_left} epoch{'s' * (epochs_left > 1)} left, about "
                    f"{record['minutes_left']:g} minutes at {record['img/s']:g} images/s")
                with log_path.open("a") as f:
                    f.write(json.dumps(record) + "\n")

        return _Callback()


def cpu_has_bfloat16(cpuinfo: Path = Path("/proc/cpuinfo")) -> bool:
    """Whether this CPU computes bfloat16 natively (Linux; False where it cannot tell)."""
    try:
        flags = set(cpuinfo.read_text().split())
    except OSError:
        return False
    return bool(flags & {"avx512_bf16", "amx_bf16"})


def _has_gpu() -> bool:
    import tensorflow as tf

    return bool(tf.config.list_physical_devices("GPU"))


def train(cfg: TrainConfig, *, verbose: int = 1) -> Path:
    """Runs (or resumes) a training run; returns the path of the trained ``model.keras``."""
    keras = _keras()
    from hanzi_grader.models.melnyk_net import ARCHITECTURES, build_model

    if cfg.arch not in ARCHITECTURES:
        raise ValueError(f"unknown architecture {cfg.arch!r}; choose from {sorted(ARCHITECTURES)}")
    if cfg.mixed_precision:
        if not cpu_has_bfloat16() and not _has_gpu():
            log.warning("--mixed-precision on a CPU without bfloat16 units (no avx512_bf16 "
                        "or amx_bf16) emulates it: no faster than float32 here (about 6x "
                        "slower without --xla)")
        keras.mixed_precision.set_global_policy("mixed_bfloat16")
    if cfg.frozen_blocks and cfg.init_from is None:
        raise ValueError("--freeze-blocks keeps the starting weights: give --init-from too")
    input_size = ARCHITECTURES[cfg.arch].input_size
    if cfg.input_size not in (None, input_size):
        raise ValueError(
            f"{cfg.arch} takes {input_size}x{input_size} input, not {cfg.input_size}; "
            f"pick the architecture of the size you want ({sorted(ARCHITECTURES)})"
        )
    cfg.input_size = input_size
    if cfg.real_fraction and not cfg.gnt_files:
        from hanzi_grader.models.training.trajectories import resolve_trajectory_dir

        cfg.trajectory_dir = resolve_trajectory_dir(cfg.trajectory_dir)
    if cfg.writer_weights:
        from hanzi_grader.models.training.trajectories import load_writer_weights

        load_writer_weights(cfg.writer_weights)  # a bad file is named now, not in a worker
    cfg.init_from_sha256 = _starting_sha256(cfg)
    cfg.run_dir.mkdir(parents=True, exist_ok=True)
    (cfg.run_dir / RUN_CONFIG_FILE).write_text(cfg.to_json())

    keras.utils.set_random_seed(cfg.seed)
    model = build_model(cfg.arch, num_classes=NUM_OUTPUTS)
    if cfg.init_from is not None:
        load_initial_weights(model, cfg.init_from, seed=cfg.seed)
    freeze_blocks(model, cfg.frozen_blocks)
    model.compile(
        optimizer=build_optimizer(cfg),
        loss=keras.losses.CategoricalCrossentropy(label_smoothing=cfg.label_smoothing),
        metrics=[keras.metrics.CategoricalAccuracy(name="acc")],
        # Keras leaves XLA off on CPUs ("auto"); on a 2-core AVX2 CPU it trains 1.3-2x faster.
        jit_compile=cfg.xla,
    )
    # A resumed run draws new synthetic batches rather than replaying the first epochs' seeds.
    cfg.seed = cfg.seed + 1000 * _count_starts(cfg.run_dir)
    data = make_dataset(cfg, input_size)
    # The backup (to resume from) holds the raw weights and the average; last.keras, saved
    # after the swap, holds the average, as model.keras will.
    callbacks = [
        keras.callbacks.BackupAndRestore(str(cfg.run_dir / "backup"), delete_checkpoint=False),
        *([keras.callbacks.SwapEMAWeights(swap_on_epoch=True)] if cfg.ema_momentum else []),
        keras.callbacks.ModelCheckpoint(str(cfg.run_dir / "last.keras")),
        ThroughputLogger(cfg.batch_size, cfg.run_dir / "log.jsonl"),
        keras.callbacks.TerminateOnNaN(),
    ]
    model.fit(data, epochs=cfg.epochs, callbacks=callbacks, verbose=verbose)
    final = cfg.run_dir / "model.keras"
    if cfg.mixed_precision:
        keras.mixed_precision.set_global_policy("float32")
    # Freezing is the run's choice (config.json keeps it), not the weights': a model that
    # says its first blocks are fixed would keep them fixed wherever it is trained next.
    freeze_blocks(model, 0)
    model.save(final)
    return final


def load_initial_weights(model, path: Path, seed: int = 0) -> None:
    """Copy the weights of the model saved in ``path`` (a .keras file or a bundle directory)
    into ``model``: the same architecture, the same channels on another input size, or a
    narrower network on the same input, widened (``widen.widened_weights``, drawing from
    ``seed``).

    Convolutions, batch normalisation and the output layer do not depend on the input size,
    so a network trained on 48-pixel input seeds one on 64-pixel input; only the GWAP weights
    (one per position of the last feature map) are resized to the new map
    (``resized_pooling_weights``). A resumed run's checkpoint (BackupAndRestore) still wins
    over these: they only seed a new run.
    """
    keras = _keras()
    path = model_file(path)
    try:
        source = keras.saving.load_model(path, compile=False)
    except (OSError, ValueError) as error:
        raise ValueError(f"cannot read the initial model {path}: {error}") from None
    from hanzi_grader.models.melnyk_net import EMBEDDING_LAYER

    other = ValueError(
        f"the initial model {path} ({source.name}) is not of the architecture being "
        f"trained ({model.name}): its weights have other shapes"
    )
    if len(model.weights) != len(source.weights):
        raise other
    # Only the spatial side is resized: other channels still show as other shapes below.
    pooling = model.get_layer(EMBEDDING_LAYER).kernel.path
    weights = [
        resized_pooling_weights(keras.ops.convert_to_numpy(theirs), tuple(mine.shape[:2]))
        if mine.path == pooling else keras.ops.convert_to_numpy(theirs)
        for mine, theirs in zip(model.weights, source.weights, strict=True)
    ]
    if [tuple(w.shape) for w in model.weights] != [w.shape for w in weights]:
        from hanzi_grader.models.training.widen import widened_weights

        try:  # refuses a source on another input size too (other GWAP weights' shape)
            weights = widened_weights(source, model, seed=seed)
        except ValueError:
            raise other from None
        log.info("widened %s's weights into %s (Net2Wider)", source.name, model.name)
    model.set_weights(weights)


def freeze_blocks(model, blocks: int) -> None:
    """Keep the convolutions and batch normalisation of blocks 1..``blocks`` as they start,
    and every other layer trainable (0 unfreezes all).

    Their statistics stay put too (a frozen BatchNormalization runs in inference mode), and
    their gradients are never computed: the first blocks, at the largest feature maps, cost
    most of a training step.
    """
    prefixes = tuple(f"block{b}_" for b in range(1, blocks + 1))
    for layer in model.layers:
        layer.trainable = not layer.name.startswith(prefixes)


def model_file(path: Path | str) -> Path:
    """The .keras file ``path`` names: itself, or a bundle directory's model file."""
    from hanzi_grader.models.bundle import MODEL_FILE

    path = Path(path)
    return path / MODEL_FILE if path.is_dir() else path


def load_model_file(path: Path | str):
    """The Keras model ``path`` names (``model_file``); ``ValueError`` naming the file if it
    is not a readable model (Keras calls such a file "not found")."""
    import hanzi_grader.models.melnyk_net  # noqa: F401  registers GlobalWeightedAveragePooling2D

    path = model_file(path)
    try:
        return _keras().saving.load_model(path, compile=False)
    except (OSError, ValueError):
        raise ValueError(f"{path} is not a readable .keras model") from None


def resized_pooling_weights(kernel, size: tuple[int, int]):
    """GWAP weights (height, width, channels) resized to a ``size`` feature map and scaled by
    the ratio of the two maps' areas: GWAP sums over positions, so their sum per channel (and
    the embedding's magnitude) stays about what it was."""
    import numpy as np

    if tuple(kernel.shape[:2]) == size:
        return kernel
    resized = _keras().ops.image.resize(kernel, size, interpolation="bilinear")
    scale = (kernel.shape[0] * kernel.shape[1]) / (size[0] * size[1])
    return np.asarray(resized, dtype=kernel.dtype) * scale


def training_record(run_dir: Path) -> dict:
    """What a bundle's manifest says of the run that trained it: the run's ``config.json``
    made portable (class list summarised, paths reduced to the names that still mean something
    on another machine) and, for a run that started from a bundle, that bundle's version and
    training record, so the manifest holds the whole lineage. A bundle folder given instead
    (recalibrating shipped weights) keeps its own record: the weights are the ones it trained."""
    from hanzi_grader.models.bundle import MANIFEST_FILE

    config, manifest = Path(run_dir) / RUN_CONFIG_FILE, Path(run_dir) / MANIFEST_FILE
    if config.exists():
        return _portable(json.loads(config.read_text()))
    if manifest.exists():
        return json.loads(manifest.read_text(encoding="utf-8")).get("training") or {}
    return {}


def _portable(record: dict) -> dict:
    from hanzi_grader.models.bundle import MANIFEST_FILE

    record = dict(record)
    if record.get("classes") == list(CLASSES):
        record["classes"] = f"all {len(CLASSES)}"
    if record.get("run_dir"):
        record["run_dir"] = Path(record["run_dir"]).name
    record["gnt_files"] = [Path(p).name for p in record.get("gnt_files") or []]
    if record.get("trajectory_dir"):
        record["trajectory_dir"] = Path(record["trajectory_dir"]).name
    if record.get("writer_weights"):
        record["writer_weights"] = Path(record["writer_weights"]).name
    init = record.get("init_from")
    if isinstance(init, str):
        path = Path(init)
        entry: dict = {"file": "/".join(path.parts[-2:])}
        manifest = (path if path.is_dir() else path.parent) / MANIFEST_FILE
        if manifest.exists():
            earlier = json.loads(manifest.read_text(encoding="utf-8"))
            entry["version"] = earlier.get("version")
            entry["training"] = _portable(earlier.get("training") or {})
        record["init_from"] = entry
    return record


def _starting_sha256(cfg: TrainConfig) -> str | None:
    """sha256 of the model the run starts from; a resumed run keeps what its first start
    recorded, since its checkpoint, not today's file, holds what it grew from."""
    from hanzi_grader.models.bundle import file_sha256

    earlier = cfg.run_dir / RUN_CONFIG_FILE
    if earlier.is_file():  # None for a run begun before hashes were recorded: unknown, not today's
        return json.loads(earlier.read_text()).get("init_from_sha256")
    start = model_file(cfg.init_from) if cfg.init_from is not None else None
    return file_sha256(start) if start is not None and start.is_file() else None


def _count_starts(run_dir: Path) -> int:
    """How many times this run was started before (0 for a new run)."""
    marker = run_dir / "starts.txt"
    starts = int(marker.read_text()) if marker.exists() else 0
    marker.write_text(str(starts + 1))
    return starts


def parse_classes(spec: str | None) -> list[str]:
    """``None`` -> all 3755; ``"first:100"`` -> the first 100; else the characters given."""
    from hanzi_grader.models.charset import index_of

    if not spec:
        return list(CLASSES)
    if spec.startswith("first:"):
        return list(CLASSES[: int(spec.split(":", 1)[1])])
    chars = [c for c in spec if not c.isspace() and c != ","]
    for c in chars:
        index_of(c)  # raises InvalidTarget naming the character
    return list(dict.fromkeys(chars))
