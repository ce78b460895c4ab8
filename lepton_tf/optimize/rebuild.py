"""Rebuilds a stage's architecture from the config, so that only weights are ever read from a run folder.

A full Keras model file can carry code (a `Lambda` layer's function runs
when it is deserialised); a run folder may be shared or planted. The float
and pruned models are the registry's model for `config.model`; the QAT model
is that model with its batch norms folded and TF-MOT's quantize wrappers
applied — the same deterministic transforms the QAT stage used.
"""

from lepton_tf.models import build_model
from lepton_tf.optimize.fold import fold_batch_norms
from lepton_tf.optimize.qat import quantize_for_training


def build_float_model(config, card):
    """The untrained float architecture of a run, from its config and the `ModelCard`'s input and labels."""
    recorded = card.input
    classes = len(card.labels)
    if card.task == "text":
        return build_model(config.model, "text", sequence_length=recorded["shape"][0],
                           vocabulary_size=recorded["tokenizer"]["vocabulary_size"], num_classes=classes)
    return build_model(config.model, "image", input_shape=recorded["shape"], num_classes=classes)


def build_stage_model(stage, config, card):
    """The architecture of `stage` ('float', 'pruned' or 'qat'), weights not loaded."""
    model = build_float_model(config, card)
    if stage != "qat":
        return model  # a stripped pruned model has the float model's layers
    qat = card.stages.get("qat")
    source = qat.source if qat and qat.source else "float"
    folded, _ = fold_batch_norms(model)
    return quantize_for_training(folded, preserve_sparsity=source == "pruned")
