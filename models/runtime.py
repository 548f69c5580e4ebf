"""The forward pass a ``Recognizer`` serves with: TensorFlow or OpenVINO.

Both run the same Keras network (the bundle's ``model.keras``). On a CPU, OpenVINO runs it
faster: about 1.2x in float32, with the same results to 1e-5; and on CPUs with AMX or AVX-512
BF16, in bfloat16 (``HANZI_INFERENCE_PRECISION=bf16``), about 4x, at the cost of about one
top-1 answer in 250 changing between near-equal candidates (the verifier's thresholds were
chosen in float32). In int8 (``HANZI_INFERENCE_PRECISION=int8``), the bundle's own quantized
copy of the network (``hanzi quantize``, ``models.training.quantize``): about 2x on any CPU,
at about half a point of top-1 on real writers. On a GPU, TensorFlow. Otherwise Keras exports
the network to OpenVINO's format (``model.export(format="openvino")``, 2-3 seconds at load);
nothing is cached on disk.
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
Precision = Literal["f32", "bf16", "int8"]
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
    with tempfile.TemporaryDirectory(prefix="hanzi-openvino-") as folder:
        path = Path(folder) / "model.xml"
        model.export(str(path), format="openvino", verbose=False)
        return compiled_forward(path, precision)


def compiled_forward(path: Path, precision: Precision = "f32") -> Forward:
    """The OpenVINO model at ``path`` (an .xml beside its .bin) compiled for this CPU; int8
    models carry their own precision."""
    import openvino as ov

    config = {"PERFORMANCE_HINT": "LATENCY"}  # one stream on every core: one batch at a time
    if precision != "int8":
        config["INFERENCE_PRECISION_HINT"] = precision
    compiled = ov.Core().compile_model(path, "CPU", config)
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
    model: keras.Model,
    input_size: int,
    runtime: Runtime = "auto",
    precision: Precision = "f32",
    int8_model: Path | None = None,
) -> Forward:
    """The forward pass of ``model`` on the chosen runtime (see the module docstring);
    ``int8_model`` is the quantized copy's .xml, which int8 on OpenVINO needs."""
    chosen = resolve_runtime(runtime)
    logger.info("forward pass on %s", runtime_name(chosen, precision))
    if chosen == "tensorflow":
        return tensorflow_forward(model, input_size)
    if precision == "int8":
        if int8_model is None:
            raise ValueError("int8 needs the quantized model (int8_model)")
        return compiled_forward(int8_model, "int8")
    return openvino_forward(model, precision)
