"""Name → builder, an explicit table (no registration by import side effect)."""

from pathlib import Path

from lepton_tf.errors import ConfigError
from lepton_tf.models import efficientnet_lite, image, text
from lepton_tf.models.user_model import build_user_model

IMAGE_MODELS = {
    "resnet": lambda shape, classes, cfg: image.resnet(shape, classes, cfg.width, cfg.dropout),
    "airbench": lambda shape, classes, cfg: image.airbench(shape, classes, cfg.width),
    "mobilenet_v2": lambda shape, classes, cfg: image.mobilenet_v2(shape, classes, cfg.alpha, cfg.dropout),
    **{variant: (lambda shape, classes, cfg, variant=variant:
                 efficientnet_lite.efficientnet_lite(shape, classes, variant, cfg.dropout))
       for variant in efficientnet_lite.VARIANTS},
}
# Text builders take (sequence_length, vocabulary_size, classes, config).
TEXT_MODELS = {
    "average_embedding": lambda length, vocab, classes, cfg: text.average_embedding(
        length, vocab, classes, cfg.embedding_dim, cfg.width, cfg.dropout),
    "kim_cnn": lambda length, vocab, classes, cfg: text.kim_cnn(
        length, vocab, classes, cfg.embedding_dim, cfg.width, dropout=cfg.dropout),
    "transformer": lambda length, vocab, classes, cfg: text.transformer(
        length, vocab, classes, cfg.embedding_dim, cfg.num_layers, cfg.num_heads, cfg.width, cfg.dropout),
}
DEFAULTS = {"image": "resnet", "text": "kim_cnn"}
# Per-variable learning-rate factors a model's recipe depends on (see `lepton_tf.train.ScaledSGD`).
LEARNING_RATE_SCALES = {"airbench": image.airbench_learning_rate_scales()}


def model_names(task="image"):
    """Names `model.name` accepts for a task ('image' or 'text')."""
    return sorted(IMAGE_MODELS if task == "image" else TEXT_MODELS)


def resolve_name(config, task):
    """The model name to build: `model.name`, or the task's default for 'auto' (`path:FILE` for `model.path`).

    Raises:
      ConfigError: the name is not a model for this task.
    """
    if config.path:
        return f"path:{Path(config.path).name}"
    name = DEFAULTS[task] if config.name == "auto" else config.name
    if name not in model_names(task):
        raise ConfigError(f"model '{name}' is not a {task} model; choose one of {', '.join(model_names(task))}")
    return name


def build_model(config, task, **shape):
    """Builds the model `config.name` names.

    Args:
      config: a `ModelConfig`.
      task: 'image' or 'text'.
      **shape: image: `input_shape`, `num_classes`; text: `sequence_length`,
        `vocabulary_size`, `num_classes`.

    Raises:
      ConfigError: unknown model name, or a model of the other task.
    """
    if config.path and task == "image":
        return build_user_model(config.path, shape["input_shape"], shape["num_classes"])
    if config.path:
        raise ConfigError("model.path is for image models; text models come from model.name")
    name = resolve_name(config, task)
    if task == "image":
        return IMAGE_MODELS[name](tuple(shape["input_shape"]), shape["num_classes"], config)
    return TEXT_MODELS[name](shape["sequence_length"], shape["vocabulary_size"], shape["num_classes"], config)


def is_pretrained(config):
    """True when `config` (a `ModelConfig`) names a backbone that starts from pretrained weights."""
    return not config.path and config.name in efficientnet_lite.VARIANTS and config.pretrained != "none"


def load_pretrained(model, config):
    """Loads the backbone weights `config.pretrained` names into a freshly built `model`; returns where from."""
    from lepton_tf.models import pretrained

    return pretrained.load_backbone_weights(model, config.name, config.pretrained)


def learning_rate_scales(config, task):
    """{variable-name fragment: step factor} the model `config` names trains with ({} for most)."""
    return dict(LEARNING_RATE_SCALES.get(resolve_name(config, task), {}))
