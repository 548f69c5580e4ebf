import numpy as np
import pytest

keras = pytest.importorskip("keras")

from hanzi_grader.models.melnyk_net import (  # noqa: E402
    ARCHITECTURES,
    EMBEDDING_LAYER,
    LAST_CONV_LAYER,
    GlobalWeightedAveragePooling2D,
    build_model,
    embedding_model,
    get_architecture,
    input_size_of,
)


def count(weights) -> int:
    return sum(int(np.prod(w.shape)) for w in weights)


def test_melnyk_net_has_the_published_parameter_counts():
    model = build_model("melnyk-net", 3755)
    assert model.count_params() == 6_523_819
    assert count(model.trainable_weights) == 6_518_635
    assert count(model.non_trainable_weights) == 5_184
    assert model.get_layer(EMBEDDING_LAYER).output.shape == (None, 448)
    assert model.get_layer(LAST_CONV_LAYER).output.shape == (None, 6, 6, 448)
    assert model.get_layer(EMBEDDING_LAYER).kernel.shape == (6, 6, 448)  # 16,128 weights


def test_layers_are_named_as_the_seed_lists_them():
    model = build_model("melnyk-tiny-32", 10)
    names = [layer.name for layer in model.layers]
    assert names[1:5] == ["block1_conv1", "block1_bn1", "block1_relu1", "block1_conv2"]
    assert "block4_pool" in names and "block5_pool" not in names
    assert names[-3:] == ["gwap", "dropout", "predictions"]
    conv = model.get_layer("block2_conv3")
    assert conv.use_bias is False and conv.kernel_size == (3, 3) and conv.padding == "same"
    assert model.get_layer("block1_pool").pool_size == (3, 3)


@pytest.mark.parametrize("arch", list(ARCHITECTURES))
def test_every_architecture_builds_for_its_input_size(arch):
    model = build_model(arch, 3756)
    size = ARCHITECTURES[arch].input_size
    assert input_size_of(model) == size
    assert model.output.shape == (None, 3756)


def test_the_output_layer_starts_small_so_training_does_not_sit_at_chance():
    model = build_model("melnyk-tiny-32", 3756)
    x = np.random.default_rng(0).random((4, 32, 32, 1)).astype("float32")
    probabilities = model.predict_on_batch(x)
    assert np.allclose(probabilities.sum(axis=1), 1, atol=1e-4)
    assert probabilities.max() < 10 / 3756  # near uniform, not saturated


def test_unknown_architecture_names_the_known_ones():
    with pytest.raises(ValueError, match="melnyk-compact-64"):
        get_architecture("resnet")


def test_keras_save_load_round_trip_gives_identical_outputs(tmp_path):
    model = build_model("melnyk-tiny-32", 20)
    gwap = model.get_layer("gwap")
    gwap.kernel.assign(np.random.default_rng(1).random(gwap.kernel.shape).astype("float32"))
    x = np.random.default_rng(2).random((3, 32, 32, 1)).astype("float32")
    path = tmp_path / "model.keras"
    model.save(path)
    loaded = keras.saving.load_model(path)
    assert isinstance(loaded.get_layer("gwap"), GlobalWeightedAveragePooling2D)
    np.testing.assert_array_equal(loaded.predict_on_batch(x), model.predict_on_batch(x))


def test_embedding_model_gives_probabilities_and_the_gwap_vector_in_one_pass():
    model = build_model("melnyk-tiny-32", 20)
    both = embedding_model(model)
    x = np.random.default_rng(3).random((2, 32, 32, 1)).astype("float32")
    probabilities, embedding = both.predict_on_batch(x)
    assert probabilities.shape == (2, 20) and embedding.shape == (2, 56)
    np.testing.assert_allclose(probabilities, model.predict_on_batch(x), rtol=1e-5, atol=1e-7)
    # The embedding is the pooled vector: the dense layer applied to it gives the probabilities.
    kernel, bias = model.get_layer("predictions").get_weights()
    logits = embedding @ kernel + bias
    softmax = np.exp(logits - logits.max(1, keepdims=True))
    np.testing.assert_allclose(softmax / softmax.sum(1, keepdims=True), probabilities, atol=1e-5)
