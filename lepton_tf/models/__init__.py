"""Model registry: QAT-friendly tf-keras functional models, looked up by name."""

from lepton_tf.models.registry import (build_model, is_pretrained, learning_rate_scales, load_pretrained, model_names,
                                      resolve_name)

__all__ = ["build_model", "is_pretrained", "learning_rate_scales", "load_pretrained", "model_names", "resolve_name"]
