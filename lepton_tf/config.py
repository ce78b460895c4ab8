"""Configuration: plain dataclasses, read from YAML, overridden with `--set`.

A run's resolved config is written to `RUN_DIR/config.yaml`; it is the single
record of how the run was made, and later stages read it back from there.
"""

import dataclasses
import math
import typing
from pathlib import Path

import yaml

from lepton_tf.errors import ConfigError


@dataclasses.dataclass
class AugmentConfig:
    """Training-time image augmentation; every field 0/False turns it off."""

    crop_padding: int = 4  # pixels of reflect padding before a random crop back to size
    flip: bool = True  # random horizontal flip
    brightness: float = 0.0  # max brightness shift, in 0-255 pixel units
    contrast: float = 0.0  # max relative contrast change: 0.2 draws a factor in [0.8, 1.2]
    cutout: int = 0  # side of a square set to the mean, in pixels
    mixup: float = 0.0  # Beta(alpha, alpha) of mixup; 0 = off
    cutmix: float = 0.0  # Beta(alpha, alpha) of cutmix; 0 = off (with mixup too: one of them per batch)
    augmix: int = 0  # AugMix severity, 1-10 (the paper's 3): robustness to corruptions (data/augmix.py); 0 = off


@dataclasses.dataclass
class TextAugmentConfig:
    """Training-time text augmentation on token ids; 0 turns each off."""

    token_dropout: float = 0.0  # probability of deleting each token
    swap: float = 0.0  # probability of swapping a token with its right neighbour
    mask: float = 0.0  # probability of replacing a token with the unknown token


@dataclasses.dataclass
class TextConfig:
    """Columns, tokenizer and sequence handling of text data sets."""

    text_column: str = "text"
    label_column: str = "label"
    tokenizer: str = "regex"  # regex (lower-case words; runs on phones) | wordpiece (keras-nlp)
    vocabulary_size: int = 10000
    min_count: int = 1  # regex: words seen fewer times in train map to <UNKNOWN>
    sequence_length: int = 64  # token ids a sentence, padded with 0 or truncated at the end
    bucket_by_length: bool = False  # batch sentences of similar length together
    augment: TextAugmentConfig = dataclasses.field(default_factory=TextAugmentConfig)


@dataclasses.dataclass
class DataConfig:
    """Where the examples come from and how they are split and batched."""

    source: str = "digits"  # an image or text folder, `tfds:NAME`, or `digits` (built-in, from scikit-learn)
    task: str = "auto"  # auto (from the source) | image | text
    image_size: int = 0  # images are resized to image_size x image_size; 0 = the model's own size
    #                      (224/240/260 for EfficientNet-Lite, the input of model.path, else 32)
    resize: str = "squash"  # squash (stretch to a square, as MediaPipe does) | crop (centre square) | pad (black bars)
    val_fraction: float = 0.1  # carved from train (seeded, per class) when there is no val/ folder
    test_fraction: float = 0.2  # carved from all images when there is no test/ folder
    batch_size: int = 128
    seed: int = 0  # splits, shuffling and augmentation are deterministic given it
    decode_threads: int = 8  # threads that decode image files at load time
    cache: str = "auto"  # memory | disk: decoded images of image folders memory-mapped under RUN_DIR/cache/
    #                      | auto: disk when the decoded images would take more than 2 GiB
    augment: AugmentConfig = dataclasses.field(default_factory=AugmentConfig)
    text: TextConfig = dataclasses.field(default_factory=TextConfig)


@dataclasses.dataclass
class ModelConfig:
    """Which architecture from `lepton_tf.models` and its size."""

    name: str = "auto"  # auto (from the data: see lepton_tf/models/choice.py) or a name from `lepton_tf.models`
    pretrained: str = "imagenet"  # EfficientNet-Lite backbones: imagenet | none | PATH (.pth or Keras .h5 weights)
    path: str = ""  # your own functional tf_keras model (.keras or .h5) taking normalised images; replaces name
    width: int = 16  # resnet: stem channels; kim_cnn: filters per kernel size;
    #                  transformer: feed-forward units; average_embedding: hidden units
    alpha: float = 1.0  # mobilenet_v2: width multiplier
    embedding_dim: int = 64  # text models
    num_layers: int = 2  # transformer encoder blocks
    num_heads: int = 2  # transformer attention heads
    dropout: float = 0.0  # before the classifier


@dataclasses.dataclass
class TrainConfig:
    """The float training run."""

    epochs: int = 10
    # Pretrained backbones train in two phases: the head on the frozen backbone, then the top blocks too.
    head_epochs: int = 0  # phase 1 (classifier only); 0 = none
    head_learning_rate: float = 0.001  # phase 1's peak learning rate (cosine)
    fine_tune_blocks: int = -1  # phase 2 (train.epochs at train.learning_rate): top blocks trained; -1 = all, 0 = none
    optimizer: str = "sgd"  # sgd (Nesterov momentum) | adamw
    learning_rate: float = 0.1  # peak learning rate of the schedule
    momentum: float = 0.9  # sgd only
    schedule: str = "onecycle"  # onecycle | cosine | constant
    warmup_epochs: float = 1.0
    weight_decay: float = 5e-4  # decoupled; batch-norm and bias variables are excluded
    label_smoothing: float = 0.1
    early_stop_patience: int = 0  # epochs without val_loss improvement; 0 = off
    strategy: str = "default"  # default | mirrored | multi_worker (reads TF_CONFIG); see lepton_tf/distribute.py
    backup_steps: int = 100  # steps between resume backups (a killed run continues from there); 0 = each epoch
    norm_learning_rate_scale: float = 1.0  # sgd: step factor for batch-norm offsets (airbench uses 64)
    lookahead: bool = False  # every 5 steps pull the weights to their moving average (airbench's lookahead)
    mixed_precision: str = "off"  # off | bfloat16 (faster on recent CPUs) | float16 (GPUs); exports stay float32
    jit_compile: bool = False  # XLA
    verbose: int = 1  # Keras progress: 0 silent, 1 progress bar, 2 one line an epoch


@dataclasses.dataclass
class OptimizeConfig:
    """Pruning, clustering and quantization-aware training (TF-MOT); `lepton_tf/optimize/` has each method."""

    # pqat: magnitude pruning to `sparsity`, then sparsity-preserving QAT;
    # 2to4: 2 zeros in every 4 input-channel weights of each convolution and dense layer, then PQAT;
    # cluster: `clusters` shared values per kernel (Conv2D: per output channel), then cluster-preserving QAT (CQAT);
    # pcqat: pruning to `sparsity`, then clustering that keeps the zeros, then PCQAT;
    # xnnpack_sparse: only the 1x1 convolutions pruned to `sparsity` (TF-MOT's PruneForLatencyOnXNNPack, needs
    #   mobilenet_v2 on images over 64 px); no QAT: adds tflite/float32_sparse.tflite, weights stored sparse,
    #   the file XNNPACK's sparse inference runs (on ARM; x86 with AVX stays dense). int8 is post-training.
    method: str = "pqat"
    sparsity: float = 0.5  # final fraction of zero weights in prunable kernels (pqat, pcqat)
    clusters: int = 16  # distinct weight values per kernel (cluster: per Conv2D output channel; pcqat)
    prune_epochs: int = 2
    cluster_epochs: int = 2
    qat_epochs: int = 2
    # Peak learning rates of the fine-tunes (cosine, no warm-up). Pruning trains the model with its batch norms;
    # clustering and QAT train it with them folded into the convolutions, which loses the normalisation that
    # keeps a higher rate stable: on a ResNet trained on 9,000 CIFAR-10 images (73.35%) QAT at 0.01 fell to
    # 18% and at 0.001 kept 73.8% (with batch norms kept it trained fine at 0.01). Clustering and CQAT/PCQAT
    # also train each shared value with the summed gradient of every weight that shares it: 16 values per
    # channel collapsed to 18.5% in two epochs at 0.001 and kept 74.3% at 0.0001; CQAT after it fell to 47% at
    # 0.001 and kept 73.4% at 0.0001. (README: Fine-tune rates)
    learning_rate: float = 0.01  # pruning
    cluster_learning_rate: float = 0.0001  # clustering (cluster, pcqat)
    qat_learning_rate: float = 0.001  # QAT and PQAT
    cqat_learning_rate: float = 0.0001  # cluster-preserving QAT (cluster, pcqat)
    skip_quantize: bool = False  # prune only; int8 then comes from post-training quantization


@dataclasses.dataclass
class ExportConfig:
    """TFLite export and evaluation of the exported files."""

    int8_io: str = "uint8"  # uint8 | int8: input/output type of the full-integer file
    representative_examples: int = 200  # training examples that calibrate int8 ranges
    latency_runs: int = 50  # single-example invocations timed per file and thread count (after warm-up)
    eval_batch_size: int = 256
    mediapipe_examples: int = 500  # test examples classified through MediaPipe Tasks per file; 0 = skip
    # Test examples in each perturbed set of the robustness report (a seeded subset); -1 = the task's default
    # (all sentences; 500 images up to 64 px, 50 larger ones); 0 = no robustness report.
    robustness_examples: int = -1


@dataclasses.dataclass
class CardConfig:
    """What MODEL_CARD.md says about use; an empty field gets a default text built from the run."""

    intended_use: str = ""  # who should use the model, for what
    out_of_scope_use: str = ""  # uses it was not made or measured for
    license: str = ""  # of the trained weights (default: the pretrained weights' and the data's terms)


@dataclasses.dataclass
class Config:
    """Everything a run needs; `config.yaml` in the run folder holds one."""

    data: DataConfig = dataclasses.field(default_factory=DataConfig)
    model: ModelConfig = dataclasses.field(default_factory=ModelConfig)
    train: TrainConfig = dataclasses.field(default_factory=TrainConfig)
    optimize: OptimizeConfig = dataclasses.field(default_factory=OptimizeConfig)
    export: ExportConfig = dataclasses.field(default_factory=ExportConfig)
    card: CardConfig = dataclasses.field(default_factory=CardConfig)


CHOICES = {
    "data.task": ("auto", "image", "text"),
    "data.cache": ("auto", "memory", "disk"),
    "data.resize": ("squash", "crop", "pad"),
    "data.text.tokenizer": ("regex", "wordpiece"),
    "model.name": ("auto", "resnet", "airbench", "mobilenet_v2", "efficientnet_lite0", "efficientnet_lite1",
                   "efficientnet_lite2", "average_embedding", "kim_cnn", "transformer"),
    "train.optimizer": ("sgd", "adamw"),
    "train.mixed_precision": ("off", "bfloat16", "float16"),
    "train.schedule": ("onecycle", "cosine", "constant"),
    "train.strategy": ("default", "mirrored", "multi_worker"),
    "export.int8_io": ("uint8", "int8"),
    "optimize.method": ("pqat", "2to4", "cluster", "pcqat", "xnnpack_sparse"),
}


# Settings that change how a command runs, not what it makes: a stage's model does not depend on them.
RUNTIME_ONLY = ("data.source", "data.decode_threads", "data.cache", "train.verbose", "train.backup_steps",
                "train.strategy", "train.mixed_precision", "train.jit_compile")
# The settings each stage's model is made from (a stage also depends on the stage it starts from).
STAGE_SETTINGS = {"float": ("data.", "model.", "train."),
                  "pruned": ("optimize.method", "optimize.sparsity", "optimize.prune_epochs", "optimize.learning_rate"),
                  "clustered": ("optimize.method", "optimize.clusters", "optimize.cluster_epochs",
                                "optimize.cluster_learning_rate"),
                  "qat": ("optimize.method", "optimize.qat_epochs", "optimize.qat_learning_rate",
                          "optimize.cqat_learning_rate")}


def _at_least(low):
    return lambda value: value >= low, f"at least {low}"


FRACTION = (lambda value: 0 <= value < 1, "in [0, 1)")
POSITIVE = (lambda value: value > 0, "greater than 0")
# Ranges a value must fall in (every float must also be finite: NaN and inf are refused).
RANGES = {
    "data.image_size": _at_least(0), "data.batch_size": _at_least(1), "data.decode_threads": _at_least(1),
    "data.val_fraction": FRACTION, "data.test_fraction": FRACTION,
    "data.augment.crop_padding": _at_least(0), "data.augment.brightness": _at_least(0),
    "data.augment.contrast": FRACTION, "data.augment.cutout": _at_least(0),
    "data.augment.mixup": _at_least(0), "data.augment.cutmix": _at_least(0),
    "data.augment.augmix": (lambda value: 0 <= value <= 10, "in 0-10 (0 = off)"),
    "data.text.vocabulary_size": _at_least(4), "data.text.min_count": _at_least(1),
    "data.text.sequence_length": _at_least(1), "data.text.augment.token_dropout": FRACTION,
    "data.text.augment.swap": FRACTION, "data.text.augment.mask": FRACTION,
    "model.width": _at_least(1), "model.alpha": POSITIVE, "model.embedding_dim": _at_least(1),
    "model.num_layers": _at_least(1), "model.num_heads": _at_least(1), "model.dropout": FRACTION,
    "train.epochs": _at_least(1), "train.head_epochs": _at_least(0), "train.head_learning_rate": POSITIVE,
    "train.fine_tune_blocks": _at_least(-1), "train.learning_rate": POSITIVE, "train.momentum": FRACTION,
    "train.norm_learning_rate_scale": _at_least(0), "train.warmup_epochs": _at_least(0),
    "train.weight_decay": _at_least(0), "train.label_smoothing": FRACTION,
    "train.early_stop_patience": _at_least(0), "train.backup_steps": _at_least(0),
    "optimize.sparsity": FRACTION, "optimize.prune_epochs": _at_least(1), "optimize.qat_epochs": _at_least(1),
    "optimize.clusters": _at_least(2), "optimize.cluster_epochs": _at_least(1),
    "optimize.learning_rate": POSITIVE, "optimize.cluster_learning_rate": POSITIVE,
    "optimize.qat_learning_rate": POSITIVE, "optimize.cqat_learning_rate": POSITIVE,
    "export.representative_examples": _at_least(1), "export.latency_runs": _at_least(1),
    "export.eval_batch_size": _at_least(1), "export.mediapipe_examples": _at_least(0),
    "export.robustness_examples": _at_least(-1),
}


def validate(config):
    """Checks every value's range (and that floats are finite); returns the config.

    Raises:
      ConfigError: a value outside its range, NaN or infinite, or splits that leave no training data.
    """
    for key, value in flatten(config).items():
        if isinstance(value, float) and not math.isfinite(value):
            raise ConfigError(f"'{key}' must be a finite number, got {value}")
        if key in RANGES and not RANGES[key][0](value):
            raise ConfigError(f"'{key}' must be {RANGES[key][1]}, got {value!r}")
    if config.data.val_fraction + config.data.test_fraction >= 1:
        raise ConfigError(f"data.val_fraction + data.test_fraction must be below 1 (they are carved from the "
                          f"training data), got {config.data.val_fraction} + {config.data.test_fraction}")
    return config


def flatten(config):
    """{'data.image_size': 32, …}: every field of the config by its dotted name."""
    return dotted(to_dict(config))


def dotted(values, prefix=""):
    """Nested dicts → {'a.b.c': leaf value}."""
    flat = {}
    for key, value in values.items():
        if isinstance(value, dict):
            flat.update(dotted(value, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = value
    return flat


def optimize_chain(config):
    """The stages `lepton quantize` makes with this config, in order (float first)."""
    opt = config.optimize
    pruned = opt.method == "2to4" or (opt.method in ("pqat", "pcqat", "xnnpack_sparse") and opt.sparsity > 0)
    clustered = opt.method in ("cluster", "pcqat")
    # XNNPACK's sparse inference is a float path: QAT would train for an int8 file it never runs.
    quantized = not opt.skip_quantize and opt.method != "xnnpack_sparse"
    return ["float", *(["pruned"] if pruned else []), *(["clustered"] if clustered else []),
            *(["qat"] if quantized else [])]


def stage_settings(config, stage):
    """The settings `stage`'s model is made from, by dotted name, its source stage's included.

    A stage records them in the model card; a later command compares them with
    its own config to tell a stale model from a current one.
    """
    stages = optimize_chain(config)
    chain = [*stages[:stages.index(stage)], stage] if stage in stages else ["float", stage]
    prefixes = tuple(prefix for name in chain for prefix in STAGE_SETTINGS[name])
    return {key: value for key, value in flatten(config).items()
            if key.startswith(prefixes) and key not in RUNTIME_ONLY}


def to_dict(config):
    """Returns the config as nested plain dicts (what YAML stores)."""
    return dataclasses.asdict(config)


def from_dict(values, cls=Config, prefix=""):
    """Builds a `cls` from nested dicts, rejecting unknown keys and wrong types.

    Raises:
      ConfigError: on an unknown key, a value of the wrong type, or a value
        outside the allowed choices.
    """
    if not isinstance(values, dict):
        raise ConfigError(f"'{prefix.rstrip('.') or 'config'}' must be a mapping, got {values!r}")
    fields = {f.name: f for f in dataclasses.fields(cls)}
    hints = typing.get_type_hints(cls)
    kwargs = {}
    for key, value in values.items():
        if key not in fields:
            raise ConfigError(
                f"unknown config key '{prefix}{key}'; known keys: {', '.join(sorted(fields))}")
        kwargs[key] = _coerce(value, hints[key], f"{prefix}{key}")
    return cls(**kwargs)


# Booleans an earlier release accepted for a field that now takes a name.
LEGACY_BOOLEANS = {"train.mixed_precision": {True: "float16", False: "off"}}


def _coerce(value, kind, key):
    if isinstance(value, bool) and key in LEGACY_BOOLEANS:
        value = LEGACY_BOOLEANS[key][value]
    if dataclasses.is_dataclass(kind):
        return from_dict(value, kind, prefix=f"{key}.")
    if kind is float and isinstance(value, int) and not isinstance(value, bool):
        value = float(value)
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise ConfigError(f"'{key}' must be {kind.__name__}, got {value!r}")
    if key in CHOICES and value not in CHOICES[key]:
        raise ConfigError(f"'{key}' must be one of {', '.join(CHOICES[key])}, got {value!r}")
    return value


def apply_overrides(values, overrides):
    """Applies `key.sub=value` strings to nested dicts; values are parsed as YAML.

    Raises:
      ConfigError: on an override without '='.
    """
    for item in overrides:
        if "=" not in item:
            raise ConfigError(f"--set expects key=value, got '{item}'")
        dotted, raw = item.split("=", 1)
        *parents, leaf = dotted.strip().split(".")
        node = values
        for part in parents:
            node = node.setdefault(part, {})
            if not isinstance(node, dict):
                raise ConfigError(f"'{dotted}' does not name a config field")
        node[leaf] = yaml.safe_load(raw) if raw.strip() else ""
    return values


def load(path=None, overrides=()):
    """Loads a YAML config (or the defaults) and applies `--set` overrides.

    Args:
      path: a YAML file; None starts from the defaults.
      overrides: `key=value` strings, e.g. `train.epochs=30`.

    Returns:
      A validated `Config`.

    Raises:
      ConfigError: if the file is missing or not valid YAML, or a key/value is wrong.
    """
    values = {}
    if path is not None:
        values = read_yaml(path)
    return validate(from_dict(apply_overrides(values, overrides)))


def given_keys(path=None, overrides=()):
    """Dotted names of the settings a config file and `--set` overrides give (what `auto` never replaces)."""
    return set(dotted(apply_overrides(read_yaml(path) if path is not None else {}, overrides)))


def read_yaml(path):
    """Reads a YAML mapping from `path` with a clear error when it cannot."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"config file not found: {path}")
    try:
        values = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as error:
        raise ConfigError(f"{path} is not valid YAML: {error}") from None
    if not isinstance(values, dict):
        raise ConfigError(f"{path} must hold a mapping of config sections")
    return values


def dump(config):
    """Returns the config as YAML text."""
    return yaml.safe_dump(to_dict(config), sort_keys=False)
