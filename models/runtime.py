"""The forward pass a ``Recognizer`` serves with: TensorFlow or OpenVINO.

Both run the same Keras network (the bundle's ``model.keras``). On a CPU, OpenVINO runs it
faster: about 1.2x in float32, with the same results to 1e-5; and on CPUs with AMX or AVX-512
BF16, in bfloat16 (``HANZI_INFERENCE_PRECISION=bf16``), about 4x, at the cost of about one
top-1 answer in 250 changing between near-equal candidates (the verifier's thresholds were
chosen in float32). On a GPU, TensorFlow. Keras exports the network to OpenVINO's format
(``model.export(format="openvino")``, 2-3 seconds at load); nothing is cached on disk.
"""

from __future__ import annotations

import logging
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Literal

import keras
import numpy as np
import tensorflow as tf

from hanzi_grader.settings import nvidia_gpu_visible

logger = logging.getLogger(__name__)

Runtime = Literal["auto", "tensorflow", "openvino"]
Precision = Literal["f32", "bf16"]
Forward = Callable[[np.ndarray], tuple[np.ndarray, np.ndarray]]


def openvino_available() -> bool:
    try:
        import openvino  # noqa: F401
    except ImportError:
        return False
    return True


def resolve_runtime(runtime: Runtime) -> Literal["tensorflow", "openvino"]:
    """``auto``: TensorFlow where an NVIDIA GPU is visible or OpenVINO is not installed,
    else OpenVINO."""
    if runtime == "auto":
        return "openvino" if openvino_available() and not nvidia_gpu_visible() else "tensorflow"
    if runtime == "openvino" and not openvino_available():
        raise RuntimeError("HANZI_RUNTIME=openvino but the openvino package is not installed")
    return runtime


def tensorflow_forward(model: keras.Model, input_size: int) -> Forward:
    """``model``'s outputs as NumPy arrays, through one traced TensorFlow function."""
    # One trace for every batch size: no retracing as batches grow and shrink.
    traced = tf.function(
        lambda x: model(x, training=False),
        input_signature=[tf.TensorSpec([None, input_size, input_size, 1], tf.float32)],
        autograph=False,  # a plain call: nothing to convert, and no warning about lambdas
    )

    def forward(batch: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        first, second = traced(batch)
        return np.asarray(first), np.asarray(second)

    return forward


def openvino_forward(model: keras.Model, precision: Precision = "f32") -> Forward:
    """``model`` exported to OpenVINO and compiled for this CPU; same outputs, as NumPy."""
    import openvino as ov

    with tempfile.TemporaryDirectory(prefix="hanzi-openvino-") as folder:
        path = Path(folder) / "model.xml"
        model.export(str(path), format="openvino", verbose=False)
        compiled = ov.Core().compile_model(
            path, "CPU",
            # LATENCY: one stream on every core, as a worker runs one batch at a time.
            {"INFERENCE_PRECISION_HINT": precision, "PERFORMANCE_HINT": "LATENCY"},
        )
    request = compiled.create_infer_request()
    outputs = compiled.outputs

    def forward(batch: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        result = request.infer({0: np.ascontiguousarray(batch, dtype=np.float32)})
        # Copies: the request reuses its output buffers on the next call.
        first, second = (np.array(result[output]) for output in outputs)
        return first, second

    return forward


def runtime_name(runtime: Runtime = "auto", precision: Precision = "f32") -> str:
    """What ``build_forward`` runs on, for logs and reports: ``openvino (bf16)``..."""
    chosen = resolve_runtime(runtime)
    return f"{chosen} ({precision if chosen == 'openvino' else 'f32'})"


def build_forward(
    model: keras.Model, input_size: int, runtime: Runtime = "auto", precision: Precision = "f32"
) -> Forward:
    """The forward pass of ``model`` on the chosen runtime (see the module docstring)."""
    chosen = resolve_runtime(runtime)
    logger.info("forward pass on %s", runtime_name(chosen, precision))
    if chosen == "openvino":
        return openvino_forward(model, precision)
    return tensorflow_forward(model, input_size)
