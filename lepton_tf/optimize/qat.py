"""Quantization-aware training with TF-MOT's default 8-bit scheme."""

from lepton_tf.keras import tfmot

quantize = tfmot.quantization.keras


def quantize_for_training(model, preserve_sparsity):
    """Wraps a (stripped) float model for QAT.

    Args:
      model: a functional model without pruning wrappers.
      preserve_sparsity: use `Default8BitPrunePreserveQuantizeScheme` so the
        zeros found by pruning stay zero through QAT (PQAT).

    Returns:
      The quantize-wrapped model; compile and fine-tune it.
    """
    annotated = quantize.quantize_annotate_model(model)
    if preserve_sparsity:
        scheme = tfmot.experimental.combine.Default8BitPrunePreserveQuantizeScheme()
        return quantize.quantize_apply(annotated, scheme)
    return quantize.quantize_apply(annotated)


def quantized_layer_names(model):
    """Names of the layers TF-MOT wrapped for quantization-aware training."""
    return [layer.layer.name for layer in model.layers if isinstance(layer, quantize.QuantizeWrapper)]


def load_scope():
    """The custom-object scope needed to load a saved QAT model."""
    return quantize.quantize_scope()
