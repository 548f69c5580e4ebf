"""The model bundle: one directory holding everything the recognizer needs, and checks on it.

- ``model.keras``: the classifier (Melnyk-Net or a compact variant), in the Keras 3 format;
- ``templates.npz``: ``templates`` (3755, embedding size) float16 unit vectors and ``mask``
  (3755,) bool, which characters have a template; and the stroke templates
  (``models.verifier.StrokeTemplates``): ``stroke_deltas`` int8 rows with their float32
  ``stroke_scales`` (a row is ``stroke_deltas * scale``) and ``stroke_offsets`` (3756,) int64;
  bundles made before stroke templates lack these three and verify without them;
- ``manifest.json``: architecture, input size, class count and class-list hash, verifier
  thresholds, version, whether the weights are trained, sha256 of the other two files, when it
  was made, training notes and the evaluation figures it was shipped with;
- optionally ``model-int8.xml`` and ``.bin``: the network quantized to int8 for OpenVINO
  (``hanzi quantize``), with their sha256 and that of the ``model.keras`` they were made from
  in the manifest's ``int8``; served only with ``HANZI_INFERENCE_PRECISION=int8``.

``load_bundle`` refuses anything that does not match with ``ModelUnavailable`` naming the file.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import tempfile
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from hanzi_grader.models.charset import CLASSES, CLASSES_SHA256, LEVEL1_COUNT
from hanzi_grader.models.verifier import StrokeTemplates, Thresholds, build_templates

from hanzi_grader.errors import InvalidImage, ModelUnavailable

if TYPE_CHECKING:
    import keras

MODEL_FILE = "model.keras"
TEMPLATES_FILE = "templates.npz"
MANIFEST_FILE = "manifest.json"
INT8_MODEL_FILE = "model-int8.xml"
INT8_WEIGHTS_FILE = "model-int8.bin"
BUNDLE_FORMAT = 1
KAI_FONT = Path("/usr/share/fonts/truetype/arphic/ukai.ttc")

# Only for bundles whose weights are untrained: real thresholds are calibrated by training.
UNTRAINED_UNKNOWN_CONFIDENCE = 0.3  # HSK1 v5's value
UNTRAINED_WRONG_CONFIDENCE = 0.5


@dataclass
class Manifest:
    """The bundle's ``manifest.json``, as fields."""

    architecture: str
    input_size: int
    num_classes: int
    has_unknown_class: bool
    classes_sha256: str
    embedding_dim: int
    thresholds: Thresholds
    version: str
    trained: bool
    model_sha256: str
    templates_sha256: str
    created: str
    training: dict[str, Any] = field(default_factory=dict)
    evaluation: dict[str, Any] = field(default_factory=dict)
    int8: dict[str, Any] = field(default_factory=dict)  # models.training.quantize's record
    format: int = BUNDLE_FORMAT

    @property
    def unknown_index(self) -> int | None:
        return LEVEL1_COUNT if self.has_unknown_class else None

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["thresholds"] = self.thresholds.to_dict()
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Manifest:
        """Parse a manifest; ``ValueError`` naming missing fields or bad values."""
        names = set(cls.__dataclass_fields__)
        required = names - {"training", "evaluation", "int8", "format"}
        missing = sorted(required - set(data))
        if missing:
            raise ValueError(f"missing fields {', '.join(missing)}")
        values = {name: data[name] for name in names if name in data}
        values["thresholds"] = Thresholds.from_dict(data["thresholds"])
        return cls(**values)


@dataclass
class Bundle:
    """A loaded, validated bundle."""

    path: Path
    manifest: Manifest
    model: keras.Model
    templates: np.ndarray  # (3755, embedding_dim) float32 unit vectors
    template_mask: np.ndarray  # (3755,) bool
    stroke_templates: StrokeTemplates = field(
        default_factory=lambda: StrokeTemplates.empty(LEVEL1_COUNT, 0)
    )
    # (n, embedding_dim) unit vectors of characters outside the 3755; (0, dim) in older bundles
    outside_templates: np.ndarray = field(default_factory=lambda: np.zeros((0, 0), np.float32))

    def int8_model(self) -> Path:
        """The quantized network's .xml, checked against the manifest; ``ModelUnavailable``
        saying how to make one when the bundle has none or it is stale."""
        record = self.manifest.int8
        if not record:
            raise ModelUnavailable(
                f"model bundle {self.path} has no int8 network: make one with `hanzi quantize "
                f"{self.path}`, or serve it in f32 (unset HANZI_INFERENCE_PRECISION)"
            )
        if record.get("model_sha256") != self.manifest.model_sha256:
            raise ModelUnavailable(
                f"the int8 network in {self.path} was made from another {MODEL_FILE}: "
                f"run `hanzi quantize {self.path}` again"
            )
        _check_sha(self.path / INT8_MODEL_FILE, record.get("xml_sha256", ""))
        _check_sha(self.path / INT8_WEIGHTS_FILE, record.get("bin_sha256", ""))
        return self.path / INT8_MODEL_FILE


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as stream:
        for chunk in iter(lambda: stream.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def serving_model(model: keras.Model) -> keras.Model:
    """``model`` as the service runs it: float32 throughout and without optimizer state.

    A model trained under mixed precision keeps its bfloat16 layers when saved, and on a CPU
    without bfloat16 units they run slower than float32 (316 against 437 images/s at batch 64
    on this project's 2-core AVX2 machine); optimizer state would double the file for nothing.
    """
    import keras

    policies = {layer.dtype_policy.name for layer in model.layers}
    if policies <= {"float32"} and getattr(model, "optimizer", None) is None:
        return model
    config = json.loads(json.dumps(model.get_config()).replace('"mixed_bfloat16"', '"float32"'))
    clone = keras.Model.from_config(config)
    clone.set_weights(model.get_weights())
    return clone


def save_bundle(
    path: Path | str,
    *,
    model: keras.Model,
    architecture: str,
    templates: np.ndarray,
    template_mask: np.ndarray,
    thresholds: Thresholds,
    version: str,
    trained: bool,
    training: dict[str, Any] | None = None,
    evaluation: dict[str, Any] | None = None,
    stroke_templates: StrokeTemplates | None = None,
    outside_templates: np.ndarray | None = None,
) -> Path:
    """Write a bundle directory (replacing the three files if present) and return its path."""
    from hanzi_grader.models.melnyk_net import EMBEDDING_LAYER, input_size_of

    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    num_classes = int(model.output.shape[-1])
    embedding_dim = int(model.get_layer(EMBEDDING_LAYER).output.shape[-1])
    if num_classes not in (LEVEL1_COUNT, LEVEL1_COUNT + 1):
        raise ValueError(f"model has {num_classes} outputs; expected 3755 or 3756")
    if templates.shape != (LEVEL1_COUNT, embedding_dim) or template_mask.shape != (LEVEL1_COUNT,):
        raise ValueError(
            f"templates {templates.shape} / mask {template_mask.shape} do not fit "
            f"({LEVEL1_COUNT}, {embedding_dim})"
        )
    serving_model(model).save(path / MODEL_FILE)
    extra_arrays = {}
    if stroke_templates is not None:
        if stroke_templates.deltas.shape[1:] != (embedding_dim,) or len(
            stroke_templates.offsets
        ) != LEVEL1_COUNT + 1:
            raise ValueError(
                f"stroke templates {stroke_templates.deltas.shape} with "
                f"{len(stroke_templates.offsets)} offsets do not fit "
                f"(rows, {embedding_dim}) and {LEVEL1_COUNT + 1}"
            )
        deltas, scales = quantize_rows(stroke_templates.deltas)
        extra_arrays = {"stroke_deltas": deltas, "stroke_scales": scales,
                         "stroke_offsets": stroke_templates.offsets.astype(np.int64)}
    if outside_templates is not None:
        if outside_templates.ndim != 2 or outside_templates.shape[1] != embedding_dim:
            raise ValueError(
                f"outside templates {outside_templates.shape} do not fit (n, {embedding_dim})"
            )
        extra_arrays["outside_templates"] = outside_templates.astype(np.float16)
    np.savez_compressed(
        path / TEMPLATES_FILE,
        templates=templates.astype(np.float16),
        mask=template_mask.astype(bool),
        **extra_arrays,
    )
    manifest = Manifest(
        architecture=architecture,
        input_size=input_size_of(model),
        num_classes=num_classes,
        has_unknown_class=num_classes == LEVEL1_COUNT + 1,
        classes_sha256=CLASSES_SHA256,
        embedding_dim=embedding_dim,
        thresholds=thresholds,
        version=version,
        trained=trained,
        model_sha256=file_sha256(path / MODEL_FILE),
        templates_sha256=file_sha256(path / TEMPLATES_FILE),
        created=datetime.now(UTC).isoformat(timespec="seconds"),
        training=training or {},
        evaluation=evaluation or {},
    )
    write_manifest(path, manifest)
    return path


def write_manifest(path: Path | str, manifest: Manifest) -> Path:
    """Write ``manifest`` as the bundle's ``manifest.json`` (the other files untouched: the
    manifest holds their hashes, nothing holds its own)."""
    target = Path(path) / MANIFEST_FILE
    text = json.dumps(manifest.to_dict(), indent=2, ensure_ascii=False) + "\n"
    staging = target.with_suffix(".json.tmp")
    staging.write_text(text, encoding="utf-8")
    staging.replace(target)  # a reader never sees half a manifest
    return target


def load_manifest(path: Path | str) -> Manifest:
    """The bundle's manifest, checked against the character set (no TensorFlow needed)."""
    path = Path(path)
    if not path.is_dir():
        raise ModelUnavailable(f"model bundle {path} is not a directory")
    manifest_path = path / MANIFEST_FILE
    try:
        data = json.loads(manifest_path.read_text(encoding="utf-8"))
        if not isinstance(data, dict):
            raise ValueError(f"expected a JSON object, got {type(data).__name__}")
        manifest = Manifest.from_dict(data)
    except FileNotFoundError:
        raise ModelUnavailable(f"model bundle {path} has no {MANIFEST_FILE}") from None
    except (ValueError, TypeError) as error:  # JSONDecodeError is a ValueError
        raise ModelUnavailable(f"corrupt manifest {manifest_path}: {error}") from None
    if manifest.format != BUNDLE_FORMAT:
        raise ModelUnavailable(
            f"{manifest_path} has bundle format {manifest.format}; this code reads {BUNDLE_FORMAT}"
        )
    if manifest.classes_sha256 != CLASSES_SHA256:
        raise ModelUnavailable(
            f"{manifest_path} was trained on another class list "
            f"(classes_sha256 {manifest.classes_sha256[:12]}..., expected {CLASSES_SHA256[:12]}...)"
        )
    expected_classes = LEVEL1_COUNT + int(manifest.has_unknown_class)
    if manifest.num_classes != expected_classes:
        raise ModelUnavailable(
            f"{manifest_path} says {manifest.num_classes} classes; expected {expected_classes}"
        )
    return manifest


def _check_sha(path: Path, expected: str) -> None:
    if not path.is_file():
        raise ModelUnavailable(f"model bundle {path.parent} has no {path.name}")
    actual = file_sha256(path)
    if actual != expected:
        raise ModelUnavailable(
            f"{path} is corrupt or was replaced: sha256 {actual[:12]}... does not match the "
            f"manifest's {expected[:12]}..."
        )


def quantize_rows(rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(int8 rows, float32 scale per row) with ``int8 * scale`` close to ``rows``: the stroke
    templates in a quarter of float32's space (their dot products move by about 1e-3)."""
    rows = np.asarray(rows, dtype=np.float32)
    scales = np.abs(rows).max(axis=1, initial=0.0) / 127.0
    safe = np.where(scales > 0, scales, 1.0)[:, None]
    return np.round(rows / safe).astype(np.int8), scales.astype(np.float32)


def _load_templates(
    path: Path, manifest: Manifest
) -> tuple[np.ndarray, np.ndarray, StrokeTemplates, np.ndarray]:
    dim = manifest.embedding_dim
    try:
        with np.load(path) as data:
            templates = data["templates"].astype(np.float32)
            mask = data["mask"].astype(bool)
            strokes = StrokeTemplates.empty(LEVEL1_COUNT, dim)
            if "stroke_deltas" in data:
                deltas = data["stroke_deltas"].astype(np.float32) * data["stroke_scales"][:, None]
                strokes = StrokeTemplates(deltas, data["stroke_offsets"].astype(np.int64))
            outside = (data["outside_templates"].astype(np.float32) if "outside_templates" in data
                       else np.zeros((0, dim), np.float32))
    except (OSError, ValueError, KeyError, IndexError) as error:
        raise ModelUnavailable(f"cannot read templates {path}: {error}") from None
    expected = (LEVEL1_COUNT, dim)
    if templates.shape != expected or mask.shape != (LEVEL1_COUNT,):
        raise ModelUnavailable(
            f"{path} holds templates of shape {templates.shape} and mask {mask.shape}; "
            f"expected {expected} and ({LEVEL1_COUNT},)"
        )
    if strokes.deltas.shape[1] != dim or len(strokes.offsets) != LEVEL1_COUNT + 1:
        raise ModelUnavailable(
            f"{path} holds stroke templates {strokes.deltas.shape} with "
            f"{len(strokes.offsets)} offsets; expected (rows, {dim}) and {LEVEL1_COUNT + 1}"
        )
    if outside.ndim != 2 or outside.shape[1] != dim:
        raise ModelUnavailable(
            f"{path} holds outside templates of shape {outside.shape}; expected (n, {dim})"
        )
    return templates, mask, strokes, outside


def _load_model(path: Path, manifest: Manifest) -> keras.Model:
    import hanzi_grader.models.melnyk_net  # noqa: F401  registers GlobalWeightedAveragePooling2D
    import keras
    from hanzi_grader.models.melnyk_net import EMBEDDING_LAYER, input_size_of

    try:
        model = keras.saving.load_model(path, compile=False)
        embedding_dim = int(model.get_layer(EMBEDDING_LAYER).output.shape[-1])
    except Exception as error:  # Keras raises many kinds for a bad archive
        raise ModelUnavailable(f"cannot load model {path}: {error}") from None
    found = (input_size_of(model), int(model.output.shape[-1]), embedding_dim)
    expected = (manifest.input_size, manifest.num_classes, manifest.embedding_dim)
    if found != expected:
        raise ModelUnavailable(
            f"{path} has (input size, classes, embedding) {found}; the manifest says {expected}"
        )
    return model


def load_bundle(path: Path | str) -> Bundle:
    """Load and validate the bundle in ``path``; ``ModelUnavailable`` with the reason if bad."""
    path = Path(path)
    manifest = load_manifest(path)
    _check_sha(path / MODEL_FILE, manifest.model_sha256)
    _check_sha(path / TEMPLATES_FILE, manifest.templates_sha256)
    templates, mask, strokes, outside = _load_templates(path / TEMPLATES_FILE, manifest)
    model = _load_model(path / MODEL_FILE, manifest)
    return Bundle(path, manifest, model, templates, mask, strokes, outside)


def render_printed(char: str, size: int) -> np.ndarray:
    """``char`` drawn in the Kai font and preprocessed to ``size``; ``InvalidImage`` if the font
    lacks it."""
    from hanzi_grader.models.preprocessing import preprocess
    from PIL import Image, ImageDraw, ImageFont

    if not KAI_FONT.is_file():
        raise ModelUnavailable(f"font {KAI_FONT} is needed to make an untrained bundle")
    font = ImageFont.truetype(str(KAI_FONT), 56)
    canvas = Image.new("L", (64, 64), 255)
    ImageDraw.Draw(canvas).text((32, 32), char, fill=0, font=font, anchor="mm")
    return preprocess(np.asarray(canvas), size)


def render_printed_characters(size: int) -> tuple[np.ndarray, np.ndarray]:
    """Each of the 3755 characters printed once (``render_printed``): the untrained bundle's
    template samples, as (images (n, size, size, 1), class indices (n,)).

    Characters the font lacks are left out.
    """
    images, labels = [], []
    for index, char in enumerate(CLASSES):
        try:
            images.append(render_printed(char, size))
        except InvalidImage:
            continue  # glyph missing from the font: no template for it
        labels.append(index)
    return np.stack(images), np.array(labels)


def untrained_thresholds(templates: np.ndarray) -> Thresholds:
    """Placeholder thresholds from how alike the templates of *different* characters are.

    An untrained network maps everything to nearly the same direction, so fixed values would
    call any scribble "correct". Accepting only above the 99th percentile of the cosines
    between different characters' templates keeps the placeholder verdicts from claiming a
    match the weights cannot see; the median marks "unlike the target".
    """
    gram = templates @ templates.T
    others = gram[~np.eye(len(templates), dtype=bool)]
    accept, wrong = np.quantile(others, [0.99, 0.5])
    return Thresholds(
        accept_similarity=float(accept),
        wrong_similarity=float(wrong),
        unknown_confidence=UNTRAINED_UNKNOWN_CONFIDENCE,
        wrong_confidence=UNTRAINED_WRONG_CONFIDENCE,
    )


def create_untrained_bundle(
    path: Path | str, arch: str = "melnyk-compact-64", *, seed: int = 0
) -> Path:
    """A bundle with freshly initialised weights, for tests and until a trained one lands.

    Its manifest says ``trained: false`` so that every CLI output warns about it. Templates are
    honest for what the weights are: the untrained network's embedding of each character
    printed once in the Kai font (so a printed character verifies against itself). The
    thresholds are placeholders (``untrained_thresholds``); a trained bundle carries calibrated
    ones.
    """
    import keras
    from hanzi_grader.models.melnyk_net import build_model, embedding_model, get_architecture

    keras.utils.set_random_seed(seed)
    spec = get_architecture(arch)
    model = build_model(arch, LEVEL1_COUNT + 1)
    images, labels = render_printed_characters(spec.input_size)
    both = embedding_model(model)
    embeddings = np.concatenate(
        [
            np.asarray(both(images[i : i + 256], training=False)[1])
            for i in range(0, len(images), 256)
        ]
    )
    templates, mask = build_templates(embeddings, labels, LEVEL1_COUNT)
    thresholds = untrained_thresholds(templates[mask])
    # Write next to the target, then swap in, so a half-written bundle is never seen.
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".bundle-", dir=path.parent))
    save_bundle(
        staging,
        model=model,
        architecture=arch,
        templates=templates,
        template_mask=mask,
        thresholds=thresholds,
        version=f"untrained-{arch}-seed{seed}",
        trained=False,
        training={
            "notes": "untrained: random initial weights; templates are the untrained network's "
            "embeddings of each character printed once in AR PL UKai",
            "seed": seed,
        },
    )
    for name in (MODEL_FILE, TEMPLATES_FILE, MANIFEST_FILE):
        path.mkdir(parents=True, exist_ok=True)
        shutil.move(staging / name, path / name)
    shutil.rmtree(staging, ignore_errors=True)
    return path
