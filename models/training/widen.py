"""Net2Wider (Chen, Goodfellow and Shlens, ICLR 2016): a trained network's weights copied into
a wider one of the same topology, computing the same function.

Each new channel of a widened convolution repeats a randomly chosen old one (kernel and batch
normalisation alike); whatever reads those channels next (the next convolution, the GWAP
weights and the output layer behind them) divides the repeated channel's weights by the number
of its copies, so the sums it computes are unchanged. A little noise on the copies' kernels
lets training pull them apart. Keras has no such operation, hence this module.
"""

from __future__ import annotations

import numpy as np

# Noise on a copied channel's kernel, relative to that kernel's standard deviation: small
# enough to keep the function (the outputs move by well under a percent), large enough that
# the copies do not receive identical gradients.
COPY_NOISE = 0.01


def widened_weights(source, target, seed: int = 0) -> list[np.ndarray]:
    """``target``'s weights, in ``target.weights`` order, from the narrower ``source`` network.

    Both are Melnyk-Net variants on the same input size whose layers have the same names;
    every channel count of ``target`` is at least ``source``'s. ``ValueError`` otherwise.
    """
    rng = np.random.default_rng(seed)
    mapping: np.ndarray | None = None  # target channel -> source channel, of the current map
    new: dict[str, list[np.ndarray]] = {}
    for layer in target.layers:
        if not layer.weights:
            continue
        try:
            theirs = [np.asarray(w) for w in source.get_layer(layer.name).get_weights()]
        except ValueError:
            raise ValueError(f"the narrower network has no layer {layer.name!r}") from None
        kind = type(layer).__name__
        if kind == "Conv2D":
            kernel = _read_through(theirs[0], mapping, axis=2)
            mapping = _grown_mapping(kernel.shape[3], layer.filters, rng)
            new[layer.name] = [_copied_with_noise(kernel, mapping, rng)]
        elif kind == "BatchNormalization":
            new[layer.name] = [w[mapping] for w in theirs]
        elif kind == "GlobalWeightedAveragePooling2D":
            new[layer.name] = [theirs[0][..., mapping]]
        elif kind == "Dense":
            new[layer.name] = [_read_through(theirs[0], mapping, axis=0), theirs[1]]
        else:
            raise ValueError(f"cannot widen layer {layer.name!r} of kind {kind}")
    weights = [w for layer in target.layers for w in new.get(layer.name, [])]
    expected = [tuple(w.shape) for w in target.weights]
    if [w.shape for w in weights] != expected:
        raise ValueError("the two networks differ in more than their widths")
    return weights


def _grown_mapping(n_source: int, n_target: int, rng: np.random.Generator) -> np.ndarray:
    if n_target < n_source:
        raise ValueError(f"cannot narrow {n_source} channels to {n_target}")
    extra = rng.integers(0, n_source, n_target - n_source)
    return np.concatenate([np.arange(n_source), extra])


def _read_through(weights: np.ndarray, mapping: np.ndarray | None, axis: int) -> np.ndarray:
    """Input-side weights for the widened channels: repeated, divided by each one's copies."""
    if mapping is None:
        return weights
    copies = np.bincount(mapping, minlength=weights.shape[axis]).astype(weights.dtype)
    shape = [1] * weights.ndim
    shape[axis] = len(mapping)
    return np.take(weights, mapping, axis=axis) / copies[mapping].reshape(shape)


def _copied_with_noise(kernel: np.ndarray, mapping: np.ndarray,
                       rng: np.random.Generator) -> np.ndarray:
    widened = kernel[..., mapping].copy()
    n_source = kernel.shape[-1]
    if len(mapping) > n_source:
        scale = COPY_NOISE * float(kernel.std())
        widened[..., n_source:] += rng.normal(0, scale, widened[..., n_source:].shape)
    return widened.astype(kernel.dtype)
