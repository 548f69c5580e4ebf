"""Melnyk-Net (Melnyk, You and Li, Soft Computing 2020) and compact variants of its topology.

Every layer is named (``block1_conv1``, ``block1_bn1``, ``block1_relu1``, ``block1_pool``, ...,
``gwap``, ``dropout``, ``predictions``): the names are part of the API, because the embedding
(``gwap`` output) and the class activation map (``block5_relu3`` output) are cut out by name.
"""

from __future__ import annotations

from dataclasses import dataclass

import keras
from keras import layers, ops, regularizers

# (filters of each convolution) per block; blocks 1-4 end in average pooling, block 5 does not.
BLOCKS: tuple[tuple[int, ...], ...] = (
    (64, 64),
    (96, 64, 96),
    (128, 96, 128),
    (256, 192, 256),
    (448, 256, 448),
)
WEIGHT_DECAY = 1e-3
EMBEDDING_LAYER = "gwap"
LAST_CONV_LAYER = "block5_relu3"
PREDICTIONS_LAYER = "predictions"


@dataclass(frozen=True)
class Architecture:
    """One entry of the registry: the input side in pixels and the width multiplier (of every
    block, or of each block in turn when ``block_widths`` is given)."""

    name: str
    input_size: int
    width: float
    description: str
    block_widths: tuple[float, ...] | None = None

    def filters(self, block: int) -> tuple[int, ...]:
        """The number of filters of each convolution of ``block`` (counted from 1)."""
        width = self.block_widths[block - 1] if self.block_widths else self.width
        return tuple(max(1, round(f * width)) for f in BLOCKS[block - 1])


ARCHITECTURES: dict[str, Architecture] = {
    arch.name: arch
    for arch in (
        Architecture("melnyk-net", 96, 1.0, "the published network, 6.5 M parameters"),
        Architecture("melnyk-compact-96", 96, 0.5, "half the channels on the paper's 96x96 input"),
        Architecture("melnyk-compact-64", 64, 0.5, "half the channels on 64x64 input"),
        Architecture("melnyk-compact-64-wide5", 64, 0.5,
                     "melnyk-compact-64 with the paper's full block 5 (a 448-wide embedding)",
                     block_widths=(0.5, 0.5, 0.5, 0.5, 1.0)),
        Architecture("melnyk-compact-48", 48, 0.5, "half the channels on 48x48 input"),
        Architecture("melnyk-tiny-32", 32, 0.125, "for tests and smoke training only"),
    )
}


@keras.saving.register_keras_serializable(package="hanzi_grader")
class GlobalWeightedAveragePooling2D(layers.Layer):
    """Global weighted average pooling: a trainable weight per position and channel, initialised
    to ones, multiplied into the feature map, which is then summed over space."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)

    def build(self, input_shape):
        self.kernel = self.add_weight(
            name="kernel", shape=tuple(input_shape[1:]), initializer="ones", trainable=True
        )

    def call(self, inputs):
        return ops.sum(inputs * self.kernel, axis=(1, 2))

    def compute_output_shape(self, input_shape):
        return (input_shape[0], input_shape[-1])

    def get_config(self):
        return super().get_config()


def get_architecture(arch: str) -> Architecture:
    """The registry entry for ``arch``; ``ValueError`` naming the known ones otherwise."""
    try:
        return ARCHITECTURES[arch]
    except KeyError:
        known = ", ".join(ARCHITECTURES)
        raise ValueError(f"unknown architecture {arch!r}; known: {known}") from None


def _conv_bn_relu(x, filters: int, block: int, index: int):
    x = layers.Conv2D(
        filters,
        3,
        strides=1,
        padding="same",
        use_bias=False,
        kernel_initializer="he_normal",
        kernel_regularizer=regularizers.L2(WEIGHT_DECAY),
        name=f"block{block}_conv{index}",
    )(x)
    x = layers.BatchNormalization(name=f"block{block}_bn{index}")(x)
    return layers.ReLU(name=f"block{block}_relu{index}")(x)


def build_model(arch: str, num_classes: int) -> keras.Model:
    """A fresh, untrained ``arch`` network ending in a ``num_classes``-way softmax."""
    spec = get_architecture(arch)
    inputs = keras.Input((spec.input_size, spec.input_size, 1), name="image")
    x = inputs
    for block in range(1, len(BLOCKS) + 1):
        for index, filters in enumerate(spec.filters(block), start=1):
            x = _conv_bn_relu(x, filters, block, index)
        if block < len(BLOCKS):
            x = layers.AveragePooling2D(3, strides=2, padding="same", name=f"block{block}_pool")(x)
    x = GlobalWeightedAveragePooling2D(name=EMBEDDING_LAYER)(x)
    x = layers.Dropout(0.5, name="dropout")(x)
    # GWAP sums over positions, so the logits start huge unless the output layer starts tiny.
    outputs = layers.Dense(
        num_classes,
        activation="softmax",
        kernel_initializer=keras.initializers.RandomNormal(stddev=0.001),
        kernel_regularizer=regularizers.L2(WEIGHT_DECAY),
        # A 3756-way softmax in bfloat16 loses the small probabilities: keep it in float32
        # under mixed precision (a no-op otherwise).
        dtype="float32",
        name=PREDICTIONS_LAYER,
    )(x)
    return keras.Model(inputs, outputs, name=arch.replace("-", "_"))


def embedding_model(model: keras.Model) -> keras.Model:
    """(probabilities, embedding) from one forward pass; the embedding is the GWAP output."""
    return keras.Model(
        model.input,
        [model.output, model.get_layer(EMBEDDING_LAYER).output],
        name=f"{model.name}_with_embedding",
    )


def input_size_of(model: keras.Model) -> int:
    """The side of the square input the model expects."""
    return int(model.inputs[0].shape[1])
