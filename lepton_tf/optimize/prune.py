"""Magnitude pruning with TF-MOT: wrap, fine-tune, strip, measure."""

import numpy as np

from lepton_tf.errors import ConfigError
from lepton_tf.keras import keras, tf, tfmot
from tensorflow_model_optimization.python.core.sparsity.keras import pruning_utils
from tensorflow_model_optimization.python.core.sparsity.keras.prune_registry import PruneRegistry

sparsity = tfmot.sparsity.keras
PRUNABLE_TYPES = (keras.layers.Conv2D, keras.layers.Dense, keras.layers.DepthwiseConv2D, keras.layers.Embedding)


def prune_model(model, target_sparsity, end_step, begin_step=0, m_by_n=None, for_xnnpack=False):
    """Wraps every layer TF-MOT can prune with `prune_low_magnitude`.

    Sparsity rises from 0 to `target_sparsity` along a polynomial-decay
    schedule between `begin_step` and `end_step` (optimizer steps). Layers
    TF-MOT cannot prune (custom layers, attention) are left as they are,
    which `prune_low_magnitude` on a whole model would refuse.

    With `m_by_n` (e.g. (2, 4)), only convolutions and dense layers are
    pruned, to m zeros in every n consecutive input-channel weights (TF-MOT's
    `sparsity_m_by_n`, the layout TFLite stores: [out, h, w, in]); the mask is
    set once, at the first step, and `target_sparsity` is ignored.

    With `for_xnnpack`, only what TF-MOT's `PruneForLatencyOnXNNPack` allows
    is pruned (1x1 convolutions), after its check that the model is one
    XNNPACK's sparse inference can run from the first convolution to the pool.

    Returns:
      The wrapped model (train it with `pruning_callbacks()`, then `strip`).

    Raises:
      ConfigError: `for_xnnpack` and a model XNNPACK's sparse path cannot run.
    """
    policy = sparsity.PruneForLatencyOnXNNPack() if for_xnnpack else None
    if policy:
        try:
            policy.ensure_model_supports_pruning(model)
        except ValueError as error:
            raise ConfigError(f"optimize.method=xnnpack_sparse cannot prune model '{model.name}': {error}. "
                              "It needs model.name=mobilenet_v2 on images larger than 64 px (a stride-2 "
                              "first convolution)") from None
    schedule = sparsity.PolynomialDecay(initial_sparsity=0.0, final_sparsity=float(target_sparsity),
                                        begin_step=int(begin_step), end_step=max(int(end_step), 1),
                                        frequency=max(int(end_step - begin_step) // 20, 1))

    def wrap(layer):
        if m_by_n:
            if is_structured_prunable(layer):
                return sparsity.prune_low_magnitude(layer, sparsity_m_by_n=m_by_n)
        elif policy:
            if policy.allow_pruning(layer):
                return sparsity.prune_low_magnitude(layer, pruning_schedule=schedule)
        elif isinstance(layer, PRUNABLE_TYPES) and PruneRegistry.supports(layer):
            return sparsity.prune_low_magnitude(layer, pruning_schedule=schedule)
        return layer

    # clone_function receives the trained layers themselves, so weights carry over.
    return keras.models.clone_model(model, clone_function=wrap)


def is_structured_prunable(layer):
    """Convolutions and dense layers: what m-by-n (2:4) sparsity applies to (depthwise kernels have no input axis)."""
    inner = getattr(layer, "layer", layer)
    return (isinstance(inner, (keras.layers.Conv2D, keras.layers.Dense))
            and not isinstance(inner, keras.layers.DepthwiseConv2D))


def m_by_n_violations(model, m_by_n):
    """Names of the convolution and dense layers whose kernels break m-by-n sparsity ([] when all keep it)."""
    structured = {getattr(layer, "layer", layer).name for layer in model.layers if is_structured_prunable(layer)}
    return [name for name, kernel in prunable_kernels(model) if name in structured
            and not pruning_utils.is_pruned_m_by_n(tf.constant(kernel), m_by_n, last_channel="C_OUT")]


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
