"""An int8 copy of a bundle's network, for OpenVINO on CPUs: about twice the throughput.

``quantize_bundle`` exports the bundle's serving network (probabilities and embedding) to
OpenVINO and quantizes its weights and activations to int8 with NNCF's post-training
quantization, the ranges measured on renders of the training writers (the calibration and
evaluation writers and real-dev stay out). It writes ``model-int8.xml``/``.bin`` into the
bundle and records their sha256, and that of the ``model.keras`` they came from, in the
manifest; the service serves them with ``HANZI_INFERENCE_PRECISION=int8``.

The verifier's thresholds were chosen in float32 and are kept (chosen again on the int8
network's outputs they won nothing back: training journal, 7 December): the report gives how
often the int8 network's top-1 answer is float32's on held-out renders, and ``hanzi
evaluate`` under int8 the figures. Full bias correction, not NNCF's fast one: on the
shipped bundle the fast one cost 2-4 points of top-1 on the calibration writers, the full
one 0.35.
"""

from __future__ import annotations

import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
from hanzi_grader.models.bundle import (
    INT8_MODEL_FILE,
    INT8_WEIGHTS_FILE,
    file_sha256,
    load_bundle,
    write_manifest,
)
from hanzi_grader.models.melnyk_net import embedding_model
from hanzi_grader.models.runtime import compiled_forward
from tqdm import tqdm

from hanzi_grader.errors import HanziError

# Seeds of the renders the ranges are measured on and of the agreement check: distinct from
# training's and calibration's (900_001-900_009).
QUANTIZE_SEED = 900_011
CHECK_SEED = 900_012
CHECK_SAMPLES = 500


class QuantizationUnavailable(HanziError):
    """NNCF, which quantizes, is not installed."""


def renders(n: int, size: int, seed: int, *, heldout: bool, real_fraction: float,
            trajectory_dir: Path | None, desc: str) -> np.ndarray:
    """``n`` preprocessed samples of the training mix (training writers, synthetic
    handwriting, fonts and the Unknown class), reproducible from ``seed``: what
    ``SampleGenerator.batch`` draws, with a progress bar over the seconds they take."""
    from hanzi_grader.models.training.samples import SampleGenerator

    generator = SampleGenerator(seed=seed, size=size, heldout=heldout,
                                real_fraction=real_fraction,
                                trajectory_dir=str(trajectory_dir) if trajectory_dir else None)
    rng = np.random.default_rng(seed)
    return np.stack([generator.sample(int(label), rng)
                     for label in tqdm(generator.labels(n, rng), desc=desc)])


def _nncf() -> Any:
    try:
        import nncf
    except ImportError:
        raise QuantizationUnavailable(
            "quantizing needs NNCF: pip install 'hanzi-grader[int8]'"
        ) from None
    return nncf


def quantize_network(xml: Path, inputs: np.ndarray) -> Any:
    """The OpenVINO model at ``xml`` quantized to int8, its ranges measured on ``inputs``."""
    import openvino as ov

    nncf = _nncf()
    dataset = nncf.Dataset([inputs[i : i + 1] for i in range(len(inputs))])
    return nncf.quantize(ov.Core().read_model(xml), dataset, subset_size=len(inputs),
                         fast_bias_correction=False)


def quantize_bundle(
    bundle_dir: Path,
    *,
    samples: int = 1000,
    real_fraction: float = 1.0,
    trajectory_dir: Path | None = None,
) -> dict[str, Any]:
    """Write the int8 network into ``bundle_dir`` and record it in the manifest; returns the
    record (``top1_agreement``: the share of held-out renders on which int8 and float32 give
    the same top-1 answer)."""
    import openvino as ov
    from hanzi_grader.models.training.trajectories import resolve_trajectory_dir

    _nncf()  # before rendering and exporting, not after
    if real_fraction:
        trajectory_dir = resolve_trajectory_dir(trajectory_dir)
    bundle = load_bundle(bundle_dir)
    size = bundle.manifest.input_size
    network = embedding_model(bundle.model)
    options = dict(real_fraction=real_fraction, trajectory_dir=trajectory_dir)
    inputs = renders(samples, size, QUANTIZE_SEED, heldout=False,
                     desc="renders to measure ranges on", **options)
    with tempfile.TemporaryDirectory(prefix="hanzi-quantize-") as folder:
        xml = Path(folder) / "model.xml"
        network.export(str(xml), format="openvino", verbose=False)
        quantized = quantize_network(xml, inputs)
        float32 = compiled_forward(xml, "f32")
        # Uncompressed: the float constants left (biases, ranges) stay float32.
        ov.save_model(quantized, bundle.path / INT8_MODEL_FILE, compress_to_fp16=False)
    int8 = compiled_forward(bundle.path / INT8_MODEL_FILE, "int8")
    check = renders(CHECK_SAMPLES, size, CHECK_SEED, heldout=True,
                    desc="renders to check agreement on", **options)
    agreement = float((float32(check)[0].argmax(1) == int8(check)[0].argmax(1)).mean())
    record = {
        "xml_sha256": file_sha256(bundle.path / INT8_MODEL_FILE),
        "bin_sha256": file_sha256(bundle.path / INT8_WEIGHTS_FILE),
        "model_sha256": bundle.manifest.model_sha256,
        "samples": samples,
        "real_fraction": real_fraction,
        "seed": QUANTIZE_SEED,
        "top1_agreement": round(agreement, 4),
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    bundle.manifest.int8 = record
    write_manifest(bundle.path, bundle.manifest)
    return record
