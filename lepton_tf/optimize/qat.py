"""Quantization-aware training with TF-MOT's default 8-bit scheme."""

from lepton_tf.keras import keras, tfmot
from tensorflow_model_optimization.python.core.quantization.keras import quantize_layer
from tensorflow_model_optimization.python.core.quantization.keras.default_8bit.default_8bit_quantize_registry import (
    Default8BitQuantizeRegistry,
)

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


def quantize_for_training(model, preserve_sparsity):
    """Wraps a (stripped) float model for QAT.

    Args:
      model: a functional model without pruning wrappers.
      preserve_sparsity: use `Default8BitPrunePreserveQuantizeScheme` so the
        zeros found by pruning stay zero through QAT (PQAT).

    Returns:
      The quantize-wrapped model; compile and fine-tune it.
    """
    annotated = annotate_supported_layers(model)  # shares (not copies) the trained layers
    if not preserve_sparsity:
        return quantize.quantize_apply(annotated)
    quantized = quantize.quantize_apply(annotated, tfmot.experimental.combine.Default8BitPrunePreserveQuantizeScheme())
    for layer in quantized.layers:
        # PQAT masks only the layers it quantizes; a pruned embedding table stays
        # float in QAT, so it is frozen to keep its zeros.
        if isinstance(layer, keras.layers.Embedding):
            layer.trainable = False
    return quantized


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
