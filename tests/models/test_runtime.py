import numpy as np
import pytest
from hanzi_grader.models.bundle import load_bundle
from hanzi_grader.models.melnyk_net import embedding_model
from hanzi_grader.models.preprocessing import preprocess
from hanzi_grader.models.runtime import build_forward, resolve_runtime
from pydantic import ValidationError

from hanzi_grader.settings import SHIPPED_MODEL_DIR, Settings


@pytest.fixture(scope="module")
def shipped_and_inputs(char_image):
    """The shipped network and 24 Kai-font characters (no data set needed)."""
    bundle = load_bundle(SHIPPED_MODEL_DIR)
    size = bundle.manifest.input_size
    chars = "安完宏宙实审室宪宰害宴容宿永水火木金土人口日月山"
    batch = np.stack([preprocess(char_image(char, side=72), size) for char in chars])
    return embedding_model(bundle.model), size, batch


def test_openvino_gives_tensorflow_s_answers_in_float32(shipped_and_inputs):
    model, size, batch = shipped_and_inputs
    tf_probabilities, tf_embeddings = build_forward(model, size, "tensorflow")(batch)
    ov_forward = build_forward(model, size, "openvino", "f32")
    ov_probabilities, ov_embeddings = ov_forward(batch)
    assert ov_probabilities.shape == tf_probabilities.shape == (len(batch), 3756)
    assert ov_embeddings.shape == tf_embeddings.shape
    np.testing.assert_allclose(ov_probabilities, tf_probabilities, atol=1e-4)
    np.testing.assert_allclose(ov_embeddings, tf_embeddings, rtol=1e-3, atol=1e-3)
    assert (ov_probabilities.argmax(1) == tf_probabilities.argmax(1)).all()
    # Any batch size, and the outputs are copies the next call does not overwrite.
    first, _ = ov_forward(batch[:1])
    ov_forward(batch[1:9])
    np.testing.assert_allclose(first[0], ov_probabilities[0], atol=1e-5)


def test_bfloat16_keeps_the_answers_close(shipped_and_inputs):
    model, size, batch = shipped_and_inputs
    exact, _ = build_forward(model, size, "tensorflow")(batch)
    fast, _ = build_forward(model, size, "openvino", "bf16")(batch)
    assert np.abs(fast - exact).max() < 0.1
    assert (fast.argmax(1) == exact.argmax(1)).mean() >= 0.9


def test_auto_takes_openvino_on_a_cpu(monkeypatch):
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "-1")  # no GPU visible
    assert resolve_runtime("auto") == "openvino"
    assert resolve_runtime("tensorflow") == "tensorflow"


def test_an_unknown_runtime_or_precision_is_refused(monkeypatch):
    monkeypatch.setenv("HANZI_RUNTIME", "onnx")
    with pytest.raises(ValidationError, match="runtime"):
        Settings()
    monkeypatch.setenv("HANZI_RUNTIME", "openvino")
    monkeypatch.setenv("HANZI_INFERENCE_PRECISION", "int4")
    with pytest.raises(ValidationError, match="inference_precision"):
        Settings()
