"""Magnitude pruning with TF-MOT: wrap, fine-tune, strip, measure."""

import numpy as np

from lepton_tf.keras import keras, tfmot
from tensorflow_model_optimization.python.core.sparsity.keras.prune_registry import PruneRegistry

sparsity = tfmot.sparsity.keras
PRUNABLE_TYPES = (keras.layers.Conv2D, keras.layers.Dense, keras.layers.DepthwiseConv2D, keras.layers.Embedding)


def prune_model(model, target_sparsity, end_step, begin_step=0):
    """Wraps every layer TF-MOT can prune with `prune_low_magnitude`.

    Sparsity rises from 0 to `target_sparsity` along a polynomial-decay
    schedule between `begin_step` and `end_step` (optimizer steps). Layers
    TF-MOT cannot prune (custom layers, attention) are left as they are,
    which `prune_low_magnitude` on a whole model would refuse.

    Returns:
      The wrapped model (train it with `pruning_callbacks()`, then `strip`).
    """
    schedule = sparsity.PolynomialDecay(initial_sparsity=0.0, final_sparsity=float(target_sparsity),
                                        begin_step=int(begin_step), end_step=max(int(end_step), 1),
                                        frequency=max(int(end_step - begin_step) // 20, 1))

    def wrap(layer):
        if isinstance(layer, PRUNABLE_TYPES) and PruneRegistry.supports(layer):
            return sparsity.prune_low_magnitude(layer, pruning_schedule=schedule)
        return layer

    # clone_function receives the trained layers themselves, so weights carry over.
    return keras.models.clone_model(model, clone_function=wrap)


def pruning_callbacks():
    """`UpdatePruningStep` is required for the masks to advance during `fit`."""
    return [sparsity.UpdatePruningStep()]


def strip(model):
    """Removes the pruning wrappers, leaving plain layers with zeroed weights."""
    return sparsity.strip_pruning(model)


def prunable_kernels(model):
    """Yields (layer name, kernel array) for the layers pruning acts on.

    Works on plain, pruning-wrapped and quantize-wrapped models: the wrapped
    layer's first weight named `kernel`, `depthwise_kernel` or `embeddings` counts.
    """
    for layer in model.layers:
        inner = getattr(layer, "layer", layer)
        if not isinstance(inner, PRUNABLE_TYPES):
            continue
        for weight in layer.weights:
            name = weight.name.split("/")[-1]
            if name.startswith(("kernel", "depthwise_kernel", "embeddings")):
                yield inner.name, weight.numpy()
                break


def measure_sparsity(model):
    """Fraction of exact zeros in the prunable kernels, overall and per layer.

    Returns:
      (overall, {layer name: fraction}), where overall weights layers by size.
    """
    per_layer, zeros, total = {}, 0, 0
    for name, kernel in prunable_kernels(model):
        layer_zeros = int(np.count_nonzero(kernel == 0))
        per_layer[name] = round(layer_zeros / kernel.size, 4)
        zeros += layer_zeros
        total += kernel.size
    return (zeros / total if total else 0.0), per_layer
