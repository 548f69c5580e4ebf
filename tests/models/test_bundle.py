import json
import shutil

import numpy as np
import pytest
from hanzi_grader.models.bundle import (
    MANIFEST_FILE,
    MODEL_FILE,
    TEMPLATES_FILE,
    load_bundle,
    load_manifest,
    save_bundle,
)
from hanzi_grader.models.charset import CLASSES_SHA256

from hanzi_grader.errors import ModelUnavailable
from hanzi_grader.settings import SHIPPED_MODEL_DIR


@pytest.fixture()
def bundle_copy(tiny_bundle, tmp_path):
    return shutil.copytree(tiny_bundle, tmp_path / "copy")


def rewrite_manifest(path, **changes):
    manifest = json.loads((path / MANIFEST_FILE).read_text())
    manifest.update(changes)
    (path / MANIFEST_FILE).write_text(json.dumps(manifest))


def test_untrained_bundle_is_complete_and_says_so(tiny_bundle):
    bundle = load_bundle(tiny_bundle)
    manifest = bundle.manifest
    assert manifest.trained is False
    assert manifest.architecture == "melnyk-tiny-32" and manifest.input_size == 32
    assert manifest.num_classes == 3756 and manifest.has_unknown_class
    assert manifest.unknown_index == 3755
    assert manifest.classes_sha256 == CLASSES_SHA256
    assert bundle.templates.shape == (3755, manifest.embedding_dim)
    assert bundle.template_mask.sum() > 3700  # the Kai font draws (nearly) every character
    norms = np.linalg.norm(bundle.templates[bundle.template_mask], axis=1)
    np.testing.assert_allclose(norms, 1, atol=1e-2)
    thresholds = manifest.thresholds
    assert thresholds.wrong_similarity <= thresholds.accept_similarity <= 1.0


def test_save_and_load_round_trip_keeps_model_outputs(tiny_bundle, tmp_path):
    bundle = load_bundle(tiny_bundle)
    saved = save_bundle(
        tmp_path / "again",
        model=bundle.model,
        architecture="melnyk-tiny-32",
        templates=bundle.templates,
        template_mask=bundle.template_mask,
        thresholds=bundle.manifest.thresholds,
        version="test-1",
        trained=True,
        evaluation={"top1": 0.5},
    )
    again = load_bundle(saved)
    assert again.manifest.version == "test-1" and again.manifest.trained
    assert again.manifest.evaluation == {"top1": 0.5}
    x = np.random.default_rng(0).random((2, 32, 32, 1)).astype("float32")
    np.testing.assert_array_equal(again.model.predict_on_batch(x), bundle.model.predict_on_batch(x))


def test_stroke_templates_survive_the_round_trip_in_a_quarter_of_the_space(tiny_bundle, tmp_path):
    from hanzi_grader.models.verifier import StrokeTemplates

    # Given stroke templates for the first two classes (3 and 2 strokes left out)
    bundle = load_bundle(tiny_bundle)
    assert len(bundle.stroke_templates) == 0  # made before stroke templates: verifies without
    dim = bundle.manifest.embedding_dim
    deltas = np.random.default_rng(1).normal(0, 0.1, (5, dim)).astype(np.float32)
    offsets = np.concatenate([[0, 3], np.full(3754, 5)])
    strokes = StrokeTemplates(deltas, offsets)

    # When they are saved in a bundle and loaded again
    saved = save_bundle(tmp_path / "strokes", model=bundle.model, architecture="melnyk-tiny-32",
                        templates=bundle.templates, template_mask=bundle.template_mask,
                        thresholds=bundle.manifest.thresholds, version="strokes-1", trained=True,
                        stroke_templates=strokes)
    again = load_bundle(saved).stroke_templates

    # Then the same rows belong to the same classes, and their dot products barely move
    assert again.offsets.tolist() == offsets.tolist()
    embedding = np.ones(dim, dtype=np.float32) / np.sqrt(dim)
    np.testing.assert_allclose(again.of(0) @ embedding, deltas[:3] @ embedding, atol=2e-3)
    np.testing.assert_allclose(again.margins(embedding, 1), strokes.margins(embedding, 1),
                               atol=2e-3)


def test_outside_templates_survive_the_round_trip_and_give_the_recognizer_its_gaps(
    tiny_bundle, tmp_path
):
    from hanzi_grader.models.recognizer import Recognizer
    from hanzi_grader.models.verifier import Thresholds, l2_normalize, outside_gaps

    # Given a bundle with templates of three characters outside the set, weighed in
    bundle = load_bundle(tiny_bundle)
    assert bundle.outside_templates.shape == (0, bundle.manifest.embedding_dim)
    dim = bundle.manifest.embedding_dim
    outside = l2_normalize(np.random.default_rng(2).normal(0, 1, (3, dim)))
    thresholds = Thresholds(**{**bundle.manifest.thresholds.to_dict(), "outside_weight": 5.0})
    saved = save_bundle(tmp_path / "outside", model=bundle.model, architecture="melnyk-tiny-32",
                        templates=bundle.templates, template_mask=bundle.template_mask,
                        thresholds=thresholds, version="outside-1", trained=True,
                        outside_templates=outside)

    # When it is loaded again
    again = load_bundle(saved)

    # Then the templates are there (float16), and the recognizer measures the gap with them
    np.testing.assert_allclose(again.outside_templates, outside, atol=1e-3)
    embeddings = l2_normalize(np.random.default_rng(3).normal(0, 1, (4, dim)))
    gaps = Recognizer(again).outside_gaps(embeddings)
    np.testing.assert_allclose(gaps, outside_gaps(embeddings, bundle.templates, outside),
                               atol=2e-3)
    assert np.abs(gaps).max() > 0
    assert not Recognizer(bundle).outside_gaps(embeddings).any()  # older bundles: no gap


def test_missing_directory_and_files(tiny_bundle, bundle_copy, tmp_path):
    with pytest.raises(ModelUnavailable, match="nowhere"):
        load_bundle(tmp_path / "nowhere")
    (bundle_copy / TEMPLATES_FILE).unlink()
    with pytest.raises(ModelUnavailable, match=f"no {TEMPLATES_FILE}"):
        load_bundle(bundle_copy)
    (bundle_copy / MANIFEST_FILE).unlink()
    with pytest.raises(ModelUnavailable, match=f"no {MANIFEST_FILE}"):
        load_bundle(bundle_copy)


def test_corrupt_manifest(bundle_copy):
    (bundle_copy / MANIFEST_FILE).write_text("{not json")
    with pytest.raises(ModelUnavailable, match="corrupt manifest"):
        load_manifest(bundle_copy)


def test_manifest_missing_fields_are_named(bundle_copy):
    manifest = json.loads((bundle_copy / MANIFEST_FILE).read_text())
    del manifest["thresholds"]
    (bundle_copy / MANIFEST_FILE).write_text(json.dumps(manifest))
    with pytest.raises(ModelUnavailable, match="thresholds"):
        load_bundle(bundle_copy)


def test_model_file_changed_after_the_manifest(bundle_copy):
    with (bundle_copy / MODEL_FILE).open("ab") as stream:
        stream.write(b"tampered")
    with pytest.raises(ModelUnavailable, match=r"model\.keras is corrupt.*sha256"):
        load_bundle(bundle_copy)


def test_other_class_list_is_refused(bundle_copy):
    rewrite_manifest(bundle_copy, classes_sha256="0" * 64)
    with pytest.raises(ModelUnavailable, match="another class list"):
        load_bundle(bundle_copy)


def test_templates_of_the_wrong_shape(bundle_copy):
    np.savez_compressed(
        bundle_copy / TEMPLATES_FILE, templates=np.zeros((10, 3)), mask=np.ones(10, bool)
    )
    from hanzi_grader.models.bundle import file_sha256

    rewrite_manifest(bundle_copy, templates_sha256=file_sha256(bundle_copy / TEMPLATES_FILE))
    with pytest.raises(ModelUnavailable, match=r"shape \(10, 3\)"):
        load_bundle(bundle_copy)


def test_a_model_trained_under_mixed_precision_is_saved_as_float32(tiny_bundle, tmp_path):
    import keras
    from hanzi_grader.models.melnyk_net import build_model

    # Given a model built under the mixed bfloat16 policy, as `hanzi train --mixed-precision`
    bundle = load_bundle(tiny_bundle)
    keras.mixed_precision.set_global_policy("mixed_bfloat16")
    try:
        mixed = build_model("melnyk-tiny-32", num_classes=3756)
    finally:
        keras.mixed_precision.set_global_policy("float32")
    mixed.set_weights(bundle.model.get_weights())
    assert "mixed_bfloat16" in {layer.dtype_policy.name for layer in mixed.layers}

    # When it is saved in a bundle and loaded again
    saved = save_bundle(tmp_path / "mixed", model=mixed, architecture="melnyk-tiny-32",
                        templates=bundle.templates, template_mask=bundle.template_mask,
                        thresholds=bundle.manifest.thresholds, version="mixed-1", trained=True)

    # Then every layer computes in float32, with the same weights
    again = load_bundle(saved).model
    assert {layer.dtype_policy.name for layer in again.layers} == {"float32"}
    for kept, trained in zip(again.get_weights(), mixed.get_weights(), strict=True):
        np.testing.assert_array_equal(kept, trained)


def test_the_shipped_bundle_computes_in_float32():
    # bfloat16 layers are slower on CPUs without bfloat16 units, most of those it serves on
    assert {layer.dtype_policy.name for layer in load_bundle(SHIPPED_MODEL_DIR).model.layers} == {
        "float32"}


def test_the_shipped_bundle_loads_and_is_small():
    manifest = load_manifest(SHIPPED_MODEL_DIR)
    total = sum(f.stat().st_size for f in SHIPPED_MODEL_DIR.iterdir())
    assert total < 25_000_000
    assert manifest.num_classes == 3756
    if not manifest.trained:
        assert manifest.architecture == "melnyk-compact-64"
