"""Quantization-aware training with TF-MOT's default 8-bit scheme."""

import logging

import numpy as np

from lepton_tf.errors import ConfigError
from lepton_tf.keras import keras, tfmot
from tensorflow_model_optimization.python.core.quantization.keras import quantize_layer
from tensorflow_model_optimization.python.core.quantization.keras.default_8bit.default_8bit_quantize_registry import (
    Default8BitQuantizeRegistry,
)

log = logging.getLogger(__name__)
quantize = tfmot.quantization.keras


def annotate_supported_layers(model):
    """Marks for QAT every layer TF-MOT's default 8-bit scheme supports, and only those.

    `Embedding`, `LayerNormalization`, `MultiHeadAttention` and custom layers
    stay float during QAT; the converter's full-integer pass quantizes them
    from the representative data.
    """
    registry = Default8BitQuantizeRegistry()

    def annotate(layer):
        if registry.supports(layer):
            return quantize.quantize_annotate_layer(layer)
        return layer

    return keras.models.clone_model(model, clone_function=annotate)


def unquantizable_layers(model):
    """'name (Class)' of each layer TF-MOT's default 8-bit scheme cannot quantize (nested models included).

    Batch norm is left out: its registry entry is empty because it is folded
    into the convolution before it (`fold_batch_norms`, or TF-MOT's own
    Conv-BN pattern), not quantized on its own.
    """
    registry = Default8BitQuantizeRegistry()
    handled = (keras.layers.InputLayer, keras.layers.BatchNormalization)
    return [f"{layer.name} ({type(layer).__name__})" for layer in model.layers
            if not isinstance(layer, handled) and not registry.supports(layer)]


def quantization_scheme(preserve_sparsity=False, preserve_clusters=False):
    """TF-MOT's 8-bit scheme that keeps what pruning and/or clustering made (None: the default scheme)."""
    combine = tfmot.experimental.combine
    if preserve_clusters:
        return combine.Default8BitClusterPreserveQuantizeScheme(preserve_sparsity=preserve_sparsity)
    return combine.Default8BitPrunePreserveQuantizeScheme() if preserve_sparsity else None


def scheme_name(preserve_sparsity=False, preserve_clusters=False):
    """The card's name for `quantization_scheme(...)`: which QAT the model had (QAT, PQAT, CQAT, PCQAT)."""
    scheme = quantization_scheme(preserve_sparsity, preserve_clusters)
    name = type(scheme).__name__ if scheme else "Default8BitQuantizeScheme"
    return f"{name}(preserve_sparsity=True)" if preserve_clusters and preserve_sparsity else name


def quantize_for_training(model, preserve_sparsity=False, preserve_clusters=False):
    """Wraps a (stripped) float model for QAT.

    Args:
      model: a functional model without pruning or clustering wrappers.
      preserve_sparsity: the zeros found by pruning stay zero through QAT (PQAT).
      preserve_clusters: each kernel keeps its clusters (CQAT; PCQAT with
        `preserve_sparsity`): TF-MOT finds them from the kernel's distinct
        values, so a kernel must hold at most 1,024 of them.

    Returns:
      The quantize-wrapped model; compile and fine-tune it.
    """
    unsupported = unquantizable_layers(model)
    if unsupported:
        log.warning("TF-MOT's 8-bit scheme cannot quantize %s: they stay float during QAT and get their int8 "
                    "ranges from the representative data at conversion", ", ".join(unsupported))
    try:
        annotated = annotate_supported_layers(model)  # shares (not copies) the trained layers
        scheme = quantization_scheme(preserve_sparsity, preserve_clusters)
        quantized = quantize.quantize_apply(annotated, *([scheme] if scheme else []))
    except (ValueError, TypeError, RuntimeError) as error:
        named = f"; layers its 8-bit scheme cannot quantize: {', '.join(unsupported)}" if unsupported else ""
        raise ConfigError(f"TF-MOT cannot prepare {model.name} for quantization-aware training "
                          f"({str(error).splitlines()[0][:300]}){named}. Set optimize.skip_quantize=true "
                          f"for post-training int8, or replace those layers") from None
    if not (preserve_sparsity or preserve_clusters):
        return quantized
    for layer in quantized.layers:
        # PQAT and CQAT keep zeros and clusters only in the layers they quantize; an
        # embedding table stays float in QAT, so it is frozen to keep them.
        if isinstance(layer, keras.layers.Embedding):
            layer.trainable = False
    return quantized


def calibrate_ranges(quantized, source, examples, batch_size=128):
    """Starts every activation range of a fresh QAT model where TF-MOT's average would settle.

    TF-MOT starts activation ranges at [-6, 6] and moves them by an
    exponential average (decay 0.999) of each batch's min and max, which
    takes thousands of steps; a short fine-tune then trains and exports with
    ranges far wider than the signal (an averaged embedding spans about
    ±0.1) and loses most of its resolution. Each range is set here to the
    mean over batches of the batch min and max — the value that average
    converges to — of the same-named layer of the float (or pruned) source
    model; each `QuantizeLayer` takes its input's.

    Returns:
      The number of range variables set.
    """
    targets = _range_variables_by_source_layer(quantized, {layer.name for layer in source.layers})
    if not targets:
        return 0
    names = sorted(targets)
    # A fresh copy: the source's layers may also sit in other graphs (the QAT
    # model shares them), and `layer.output` must come from this one.
    source_copy = keras.models.clone_model(source)
    source_copy.set_weights(source.get_weights())
    probe = keras.Model(source_copy.inputs, [source_copy.get_layer(name).output for name in names])
    lows, highs = [], []
    for start in range(0, len(examples), batch_size):
        outputs = probe.predict(examples[start:start + batch_size], verbose=0)
        outputs = outputs if len(names) > 1 else [outputs]
        lows.append([min(float(o.min()), 0.0) for o in outputs])
        highs.append([max(float(o.max()), 0.0) for o in outputs])
    for name, low, high in zip(names, np.mean(lows, axis=0), np.mean(highs, axis=0)):
        for variable in targets[name]:
            variable.assign(low if variable.name.split(":")[0].endswith("_min") else high)
    return sum(len(v) for v in targets.values())


def _range_variables_by_source_layer(quantized, source_names):
    """{source layer name: [activation range variables fed by its output]}."""
    targets = {}
    for layer in quantized.layers:
        ranges = [w for w in layer.weights if w.name.split("/")[-1].split(":")[0].endswith(("_min", "_max"))
                  and "kernel" not in w.name.split("/")[-1]]
        if isinstance(layer, quantize_layer.QuantizeLayer):
            target = layer.inbound_nodes[0].inbound_layers.name
        elif isinstance(layer, quantize.QuantizeWrapper):
            target = layer.layer.name
        else:
            continue
        if ranges and target in source_names:
            targets.setdefault(target, []).extend(ranges)
    return targets


def quantized_layer_names(model):
    """Names of the layers TF-MOT wrapped for quantization-aware training."""
    return [layer.layer.name for layer in model.layers if isinstance(layer, quantize.QuantizeWrapper)]


def frozen_layer_names(model):
    """Layers QAT does not train (pruned embedding tables under PQAT)."""
    return [layer.name for layer in model.layers if layer.weights and not layer.trainable]


def unquantized_layer_names(model):
    """Layers with weights or computation that QAT left float (quantized later by the converter)."""
    skipped = (keras.layers.InputLayer, quantize_layer.QuantizeLayer, quantize.QuantizeWrapper)
    return [layer.name for layer in model.layers if not isinstance(layer, skipped)]


def load_scope():
    """The custom-object scope needed to load a saved QAT model."""
    return quantize.quantize_scope()
