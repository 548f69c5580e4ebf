"""hanzi quantize: the bundle's network in int8 for OpenVINO, served with
HANZI_INFERENCE_PRECISION=int8."""

import json
import shutil

import numpy as np
import pytest
from click.testing import CliRunner
from hanzi_grader.models.bundle import (
    INT8_MODEL_FILE,
    INT8_WEIGHTS_FILE,
    MANIFEST_FILE,
    file_sha256,
    load_bundle,
)
from hanzi_grader.models.recognizer import Recognizer

from hanzi_grader.cli import cli
from hanzi_grader.errors import ModelUnavailable
from hanzi_grader.settings import SHIPPED_MODEL_DIR, get_settings

CHARS = "安完宏宙实审室宪宰害宴容宿永水火木金土人口日月山"


@pytest.fixture(scope="module")
def quantized(tmp_path_factory, tiny_parts):
    """A copy of the shipped bundle with its int8 network (ranges from 32 renders)."""
    folder = tmp_path_factory.mktemp("quantized") / "bundle"
    shutil.copytree(SHIPPED_MODEL_DIR, folder)
    result = CliRunner().invoke(cli, ["quantize", str(folder), "--samples", "32",
                                      "--real-fraction", "0.5", "--trajectories", str(tiny_parts)])
    assert result.exit_code == 0, result.output
    return folder, result.output


@pytest.fixture
def int8(monkeypatch):
    monkeypatch.setenv("HANZI_INFERENCE_PRECISION", "int8")
    monkeypatch.setenv("HANZI_RUNTIME", "openvino")
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


def test_the_manifest_records_the_int8_files_and_their_source(quantized):
    folder, output = quantized
    record = json.loads((folder / MANIFEST_FILE).read_text())["int8"]
    assert record["xml_sha256"] == file_sha256(folder / INT8_MODEL_FILE)
    assert record["bin_sha256"] == file_sha256(folder / INT8_WEIGHTS_FILE)
    assert record["model_sha256"] == load_bundle(folder).manifest.model_sha256
    assert record["samples"] == 32
    assert 0.8 <= record["top1_agreement"] <= 1.0
    assert "agrees with float32's on" in output
    # Weights in int8: a quarter of the float32 file's size, give or take the graph.
    size = (folder / INT8_WEIGHTS_FILE).stat().st_size
    assert size < 0.4 * (folder / "model.keras").stat().st_size


def test_int8_serves_the_same_answers_as_float32(quantized, int8, char_image):
    folder, _ = quantized
    images = [char_image(char, side=72) for char in CHARS]
    recognizer = Recognizer.load(folder)
    assert recognizer.runtime == "openvino (int8)"
    fast = recognizer.recognize(images, targets=list(CHARS))
    get_settings.cache_clear()
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("HANZI_INFERENCE_PRECISION", "f32")
        exact = Recognizer.load(folder).recognize(images, targets=list(CHARS))
    same = [f.candidates[0].char == e.candidates[0].char for f, e in zip(fast, exact, strict=True)]
    assert np.mean(same) >= 0.9
    assert sum(f.verdict == e.verdict for f, e in zip(fast, exact, strict=True)) >= 0.9 * len(CHARS)


def test_the_shipped_bundle_carries_its_own_int8_network():
    """A bundle copied in without `hanzi quantize` would keep a stale one, or none."""
    path = load_bundle(SHIPPED_MODEL_DIR).int8_model()
    assert path.name == INT8_MODEL_FILE


def test_int8_without_a_quantized_network_says_how_to_make_one(tiny_bundle, int8):
    with pytest.raises(ModelUnavailable, match="hanzi quantize"):
        Recognizer.load(tiny_bundle)


def test_a_replaced_or_stale_int8_network_is_refused(quantized, int8, tmp_path):
    folder, _ = quantized
    copy = tmp_path / "copy"
    shutil.copytree(folder, copy)
    weights = copy / INT8_WEIGHTS_FILE
    weights.write_bytes(weights.read_bytes()[:-4] + b"\0\0\0\0")
    with pytest.raises(ModelUnavailable, match="corrupt or was replaced"):
        Recognizer.load(copy)
    shutil.copy(folder / INT8_WEIGHTS_FILE, weights)
    manifest = json.loads((copy / MANIFEST_FILE).read_text())
    manifest["int8"]["model_sha256"] = "0" * 64  # made from other weights than model.keras
    (copy / MANIFEST_FILE).write_text(json.dumps(manifest))
    with pytest.raises(ModelUnavailable, match="run `hanzi quantize"):
        Recognizer.load(copy)


def test_quantize_refuses_a_folder_that_is_not_a_bundle(tmp_path):
    result = CliRunner().invoke(cli, ["quantize", str(tmp_path), "--real-fraction", "0"])
    assert result.exit_code != 0
    assert "no manifest.json" in result.output
    assert "Traceback" not in result.output
