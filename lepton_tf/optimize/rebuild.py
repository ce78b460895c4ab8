"""Rebuilds a stage's architecture from the config, so that only weights are ever read from a run folder.

A full Keras model file can carry code (a `Lambda` layer's function runs
when it is deserialised); a run folder may be shared or planted. The float
and pruned models are the registry's model for `config.model`; the clustered
model is that model with its batch norms folded; the QAT model is the folded
model with TF-MOT's quantize wrappers applied — the same deterministic
transforms the QAT stage used.
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


def build_stage_model(stage, config, card, load_stage=None):
    """The architecture of `stage` ('float', 'pruned', 'clustered' or 'qat'); weights not loaded.

    A cluster-preserving QAT model's variables depend on the clusters of the
    model it started from, so its architecture is built from that model, read
    with `load_stage("clustered")`.
    """
    model = build_float_model(config, card)
    if stage in ("float", "pruned"):
        return model  # a stripped pruned model has the float model's layers
    folded, _ = fold_batch_norms(model)
    if stage == "clustered":
        return folded  # clustered after folding (`optimize.cluster`), stripped to plain layers
    qat = card.stages.get("qat")
    source = qat.source if qat and qat.source else "float"
    scheme = (qat.scheme if qat else None) or ""
    preserve_sparsity = source == "pruned" or "Prune" in scheme or "preserve_sparsity=True" in scheme
    if source == "clustered":
        folded = load_stage("clustered")
    return quantize_for_training(folded, preserve_sparsity=preserve_sparsity, preserve_clusters=source == "clustered")
