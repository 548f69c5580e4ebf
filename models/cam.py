"""Class activation maps (as in the Melnyk-Net paper): where the network saw the class.

The map is the last feature map weighted by the GWAP weights (per position and channel) and by
the predicted class's dense weights, summed over channels, resized to the input and drawn as a
heat map over the character.
"""

from __future__ import annotations

import keras
import numpy as np
from hanzi_grader.models.melnyk_net import EMBEDDING_LAYER, LAST_CONV_LAYER, PREDICTIONS_LAYER
from PIL import Image


def feature_model(model: keras.Model) -> keras.Model:
    """(last feature map, probabilities) from one forward pass."""
    return keras.Model(model.input, [model.get_layer(LAST_CONV_LAYER).output, model.output])


def activation_map(model: keras.Model, features: np.ndarray, class_index: int) -> np.ndarray:
    """The (h, w) map of ``class_index`` from one image's last feature map (h, w, c), in [0, 1]."""
    gwap = np.asarray(model.get_layer(EMBEDDING_LAYER).kernel)
    dense = np.asarray(model.get_layer(PREDICTIONS_LAYER).kernel)[:, class_index]
    heat = np.einsum("hwc,hwc,c->hw", features, gwap, dense)
    heat = np.maximum(heat, 0)  # only the evidence for the class
    top = float(heat.max())
    return heat / top if top > 0 else heat


def jet(values: np.ndarray) -> np.ndarray:
    """A jet-like colour map: (…,) in [0, 1] -> (…, 3) uint8, blue (cold) to red (hot)."""
    v = np.clip(values, 0, 1)[..., None]
    centres = np.array([3.0, 2.0, 1.0])  # red, green, blue peak at 3/4, 1/2, 1/4
    return (np.clip(1.5 - np.abs(4 * v - centres), 0, 1) * 255).astype(np.uint8)


def overlay(character: np.ndarray, heat: np.ndarray, scale: int = 3) -> Image.Image:
    """The heat map blended over the preprocessed character (bright ink), enlarged ``scale``x."""
    side = character.shape[0]
    heat_image = Image.fromarray((heat * 255).astype(np.uint8)).resize(
        (side, side), Image.Resampling.BILINEAR
    )
    colours = jet(np.asarray(heat_image, dtype=np.float32) / 255).astype(np.float32)
    ink = np.repeat(np.clip(character, 0, 1)[..., None] * 255, 3, axis=2)
    blended = (0.5 * colours + 0.5 * ink).astype(np.uint8)
    return Image.fromarray(blended, "RGB").resize(
        (side * scale, side * scale), Image.Resampling.NEAREST
    )
