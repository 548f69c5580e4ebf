"""The batch API: a list of images (and targets) in, one ``Recognition`` per image out.

Loaded once per process from a bundle; one forward pass per call gives both the class
probabilities and the embeddings, whatever the mix of classify and verify requests. Unusable
images get a ``Recognition`` with ``error`` set and never stop the others.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import tensorflow as tf
from hanzi_grader.models.bundle import Bundle, Manifest, load_bundle
from hanzi_grader.models.cam import activation_map, feature_model, overlay
from hanzi_grader.models.charset import LEVEL1_COUNT, char_of, index_of
from hanzi_grader.models.melnyk_net import embedding_model
from hanzi_grader.models.missing_stroke import name_missing_stroke
from hanzi_grader.models.preprocessing import ImageSource, load_image, preprocess
from hanzi_grader.models.results import Candidate, Recognition
from hanzi_grader.models.runtime import build_forward, resolve_runtime, runtime_name
from hanzi_grader.models.verifier import decide_verdict, gap_of_nearest, is_unknown, l2_normalize
from PIL import Image

from hanzi_grader.errors import HanziError, InvalidTarget
from hanzi_grader.settings import get_settings

logger = logging.getLogger(__name__)


class Recognizer:
    """Classifier and verifier of one model bundle; load it once, call ``recognize`` often."""

    def __init__(self, bundle: Bundle, *, max_pixels: int | None = None) -> None:
        self.bundle = bundle
        self.max_pixels = max_pixels
        settings = get_settings()
        self.runtime = runtime_name(settings.runtime, settings.inference_precision)
        int8 = (settings.inference_precision == "int8"
                and resolve_runtime(settings.runtime) == "openvino")
        self._forward = build_forward(
            embedding_model(bundle.model), bundle.manifest.input_size,
            runtime=settings.runtime, precision=settings.inference_precision,
            int8_model=bundle.int8_model() if int8 else None,
        )
        self._features = None  # built on the first ``cam`` call
        self._gap_templates: tuple[tf.Tensor, tf.Tensor] | None = None  # first outside_gaps

    @classmethod
    def load(cls, path: Path | str | None = None) -> Recognizer:
        """Load the bundle in ``path`` (default: the ``HANZI_MODEL_DIR`` setting)."""
        settings = get_settings()
        bundle = load_bundle(settings.model_dir if path is None else path)
        return cls(bundle, max_pixels=settings.max_image_pixels)

    @property
    def manifest(self) -> Manifest:
        return self.bundle.manifest

    @property
    def trained(self) -> bool:
        return self.manifest.trained

    @property
    def input_size(self) -> int:
        return self.manifest.input_size

    def prepare(self, image: ImageSource) -> np.ndarray:
        """The network input for one image; ``InvalidImage`` if it is unusable."""
        grey = load_image(image, max_pixels=self.max_pixels, reject_colour_photos=True)
        return preprocess(grey, self.input_size)

    def recognize(
        self,
        images: Sequence[ImageSource],
        targets: Sequence[str | None] | None = None,
        top_n: int = 5,
    ) -> list[Recognition]:
        """One ``Recognition`` per image, in order; ``targets[i]`` (if given) is verified."""
        if targets is not None and len(targets) != len(images):
            raise ValueError(f"{len(images)} images but {len(targets)} targets")
        targets = list(targets) if targets is not None else [None] * len(images)
        results: list[Recognition | None] = [None] * len(images)
        inputs, valid = [], []
        for i, image in enumerate(images):
            try:
                inputs.append(self.prepare(image))
                valid.append(i)
            except HanziError as error:
                results[i] = Recognition(
                    target=targets[i], error=str(error), error_type=type(error).__name__
                )
        if inputs:
            probabilities, embeddings = self.forward(np.stack(inputs))
            gaps = self.outside_gaps(embeddings)
            for row, i in enumerate(valid):
                results[i] = self._one(
                    probabilities[row], embeddings[row], gaps[row], targets[i], top_n
                )
        return results  # type: ignore[return-value]  # every slot is filled above

    def forward(self, batch: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Probabilities and unit embeddings for a batch of prepared inputs."""
        started = time.perf_counter()
        probabilities, embeddings = self._forward(batch)
        logger.debug("forward pass of %d images in %.1f ms",
                     len(batch), (time.perf_counter() - started) * 1000)
        return probabilities, l2_normalize(embeddings)

    def outside_gaps(self, embeddings: np.ndarray) -> np.ndarray:
        """Each embedding's outside gap (``models.verifier.outside_gaps``), or zeros where the
        manifest does not weigh it in."""
        if not self.manifest.thresholds.outside_weight or not len(self.bundle.outside_templates):
            return np.zeros(len(embeddings), dtype=np.float32)
        # In TensorFlow, not NumPy: after a NumPy matrix product OpenBLAS's threads spin on
        # and starve the next forward pass (594 against 850 images/s at batch 64 on 2 cores).
        if self._gap_templates is None:
            self._gap_templates = (tf.constant(self.bundle.templates.T),
                                   tf.constant(self.bundle.outside_templates.T))
        known, outside = self._gap_templates
        embeddings = tf.constant(embeddings, dtype=tf.float32)
        return gap_of_nearest(tf.reduce_max(tf.matmul(embeddings, known), axis=1).numpy(),
                              tf.reduce_max(tf.matmul(embeddings, outside), axis=1).numpy(),
                              self.manifest.thresholds.known_share)

    def _one(
        self,
        probabilities: np.ndarray,
        embedding: np.ndarray,
        outside_gap: float,
        target: str | None,
        top_n: int,
    ) -> Recognition:
        manifest = self.manifest
        known = probabilities[:LEVEL1_COUNT]
        best = top_indices(known, top_n)
        recognition = Recognition(
            candidates=[Candidate(char_of(int(k)), float(known[k])) for k in best],
            unknown=is_unknown(probabilities, manifest.thresholds, manifest.unknown_index,
                               float(outside_gap)),
            target=target,
        )
        if target is None:
            return recognition
        try:
            target_index: int | None = index_of(target)
        except InvalidTarget:
            target_index = None
        has_template = target_index is not None and bool(self.bundle.template_mask[target_index])
        stroke_margin = 0.0
        if has_template:
            template = self.bundle.templates[target_index]
            recognition.similarity = float(np.dot(embedding, template))
            stroke_margin = float(self.bundle.stroke_templates.margins(embedding, target_index)[0])
        recognition.verdict = decide_verdict(
            target_index=target_index,
            has_template=has_template,
            similarity=recognition.similarity,
            probabilities=probabilities,
            thresholds=manifest.thresholds,
            unknown_index=manifest.unknown_index,
            stroke_margin=stroke_margin,
            outside_gap=float(outside_gap),
        )
        recognition.missing_stroke = name_missing_stroke(
            verdict=recognition.verdict, embedding=embedding, target_index=target_index,
            similarity=recognition.similarity, strokes=self.bundle.stroke_templates,
            thresholds=manifest.thresholds,
        )
        return recognition

    def cam(self, image: ImageSource, class_index: int | None = None) -> Image.Image:
        """A heat map of where the network saw ``class_index`` (default: its best guess)."""
        x = self.prepare(image)
        if self._features is None:
            self._features = feature_model(self.bundle.model)
        features, probabilities = self._features(x[None], training=False)
        if class_index is None:
            class_index = int(np.argmax(np.asarray(probabilities)[0, :LEVEL1_COUNT]))
        heat = activation_map(self.bundle.model, np.asarray(features)[0], class_index)
        return overlay(x[:, :, 0], heat)


def top_indices(values: np.ndarray, n: int) -> np.ndarray:
    """Indices of the ``n`` largest values, largest first, ties in index order.

    The same as ``np.argsort(-values, kind="stable")[:n]`` without sorting all 3755 classes
    for every image (a partition finds the n-th largest value first).
    """
    if n >= len(values):
        return np.argsort(-values, kind="stable")
    kth = np.partition(values, len(values) - n)[len(values) - n]
    above = np.flatnonzero(values > kth)
    chosen = np.concatenate([above, np.flatnonzero(values == kth)[: n - len(above)]])
    return chosen[np.argsort(-values[chosen], kind="stable")]
