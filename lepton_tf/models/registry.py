"""Name → builder, an explicit table (no registration by import side effect)."""

from lepton_tf.errors import ConfigError
from lepton_tf.models import image

IMAGE_MODELS = {
    "resnet": lambda shape, classes, cfg: image.resnet(shape, classes, cfg.width, cfg.dropout),
    "mobilenet_v2": lambda shape, classes, cfg: image.mobilenet_v2(shape, classes, cfg.alpha, cfg.dropout),
}


def model_names():
    """Names `model.name` accepts."""
    return sorted(IMAGE_MODELS)


def build_model(config, input_shape, num_classes):
    """Builds the model `config.name` names for `input_shape` and `num_classes`.

    Args:
      config: a `ModelConfig`.
      input_shape: (height, width, channels) of one example.
      num_classes: number of output classes.

    Raises:
      ConfigError: unknown model name.
    """
    if config.name not in IMAGE_MODELS:
        raise ConfigError(f"unknown model '{config.name}'; choose one of {', '.join(model_names())}")
    return IMAGE_MODELS[config.name](tuple(input_shape), num_classes, config)
