"""`model.name: auto` and `data.image_size: 0`: the model and its input size, chosen from the data.

Rules (the log and the model card say which one fired, with its figures):
- text: `kim_cnn` with TEXT_DEFAULTS for every setting the user did not give,
  and, unless `train.epochs` was given, as many epochs as it takes to make
  TEXT_MIN_STEPS optimizer steps over the data (`scale_text_epochs`);
- an image folder whose files are photo-sized (median short side of a sample
  of its training files at least PHOTO_MIN_SIDE pixels): `efficientnet_lite0`,
  ImageNet-pretrained, at its native 224x224, with PHOTO_DEFAULTS for every
  setting the user did not give;
- anything else (tiny images: CIFAR-like folders, digits, TFDS sets): the
  from-scratch `resnet` at 32x32.
`data.image_size: 0` becomes the chosen model's native size (the input of a
`model.path` model, 224/240/260 for EfficientNet-Lite0/1/2, else 32).
"""

import dataclasses
import logging
import math
from pathlib import Path

import numpy as np

from lepton_tf.config import Config, flatten, from_dict, to_dict, validate
from lepton_tf.data.sources import resolve_task
from lepton_tf.models import efficientnet_lite
from lepton_tf.schedules import steps_for

log = logging.getLogger(__name__)

PHOTO_MIN_SIDE = 64  # median short side (pixels) from which an image folder counts as photos
SAMPLED_FILES = 200  # training files whose headers are read to decide
FROM_SCRATCH_SIZE = 32

# Settings for photos, applied where the user gave none. Augmentation is off,
# so the frozen bottom's output is computed once; the head trains on it, then
# the top five blocks (the 7x7 stage and the last block) at a tenth of the
# rate. QAT (one epoch, the pretrained bottom frozen as in training) makes the
# int8 file: post-training int8 lost 1.8 points through MediaPipe where QAT
# lost none (benchmarks/photos.py data). No pruning: pruning a pretrained
# backbone costs accuracy that a few hundred photos a class do not win back.
# Chosen to keep `make train && make quantize` on a few thousand photos
# within about 15 minutes on 2 CPU cores.
PHOTO_DEFAULTS = {
    "model.name": "efficientnet_lite0", "model.pretrained": "imagenet", "model.dropout": 0.2,
    "data.batch_size": 32, "data.augment.crop_padding": 0, "data.augment.flip": False,
    "train.head_epochs": 10, "train.head_learning_rate": 0.001,
    "train.fine_tune_blocks": 5, "train.epochs": 4, "train.learning_rate": 0.0001,
    "train.optimizer": "adamw", "train.schedule": "cosine", "train.warmup_epochs": 0.0,
    "train.weight_decay": 0.0001, "train.label_smoothing": 0.1,
    "optimize.sparsity": 0.0, "optimize.qat_epochs": 1, "optimize.qat_learning_rate": 0.00001,
}


# Text with `model.name: auto`: Kim's CNN (widths 3, 4, 5, max over time),
# trained with AdamW on a cosine schedule. Chosen on validation splits only
# (TREC carved from train, SST-2's dev file): benchmarks/sweeps/text_*.yaml, and
# every try in benchmarks/results/tries/.
# The run keeps the epoch of lowest validation loss (patience 2). On held-out
# rows (benchmarks/sweeps/text_early_stop.yaml, 2 seeds each) that gained 1.4
# points on a 3,000-sentence slice of SST-2 and 0.6 on SST-2, lost 0.8 on TREC
# (whose seeds alone differ by 2 points), and trained 2-3x faster; patience 3
# kept the same epochs.
TEXT_DEFAULTS = {
    "model.name": "kim_cnn", "model.embedding_dim": 128, "model.width": 100, "model.dropout": 0.5,
    "data.batch_size": 50, "train.optimizer": "adamw", "train.learning_rate": 0.002, "train.schedule": "cosine",
    "train.warmup_epochs": 1.0, "train.weight_decay": 0.0001, "train.label_smoothing": 0.0,
    "train.early_stop_patience": 2, "optimize.learning_rate": 0.0005, "optimize.cluster_learning_rate": 0.0005,
    "optimize.qat_learning_rate": 0.0005, "optimize.cqat_learning_rate": 0.0005,
}
# A schedule counted in epochs gives a small set few steps: 8 epochs of 500
# sentences are 80 steps, and such a run stops while still under-fitting.
# Measured on validation (benchmarks/sweeps/text_epochs.yaml, text_small_set.yaml):
# 3,000 SST-2 sentences reach 99% train accuracy after about 240 steps, and
# more epochs than 8 gained nothing on TREC, SST-2 or that slice (their
# validation accuracy peaks early and then drifts down a point as the CNN
# over-fits), so the floor is about twice the steps a small set needs to fit.
TEXT_MIN_STEPS = 500
TEXT_MIN_EPOCHS = 8
TEXT_MAX_EPOCHS = 50


def choose(config, given=None):
    """Resolves `model.name: auto` and `data.image_size: 0`; returns (config, choice for the model card).

    Args:
      config: a `Config` as the user gave it.
      given: dotted names of the settings the user gave (config file and
        overrides); None counts every setting that differs from the built-in default.
    """
    task = resolve_task(config.data)
    choice = {"rule": "model.name given"}
    if config.model.path:
        choice = {"rule": "model.path given"}
    elif config.model.name == "auto" and task == "image":
        config, choice = _choose_image_model(config, given)
    elif config.model.name == "auto":
        config, choice = _choose_text_model(config, given)
    if task == "image" and config.data.image_size == 0:
        size = _native_size(config)
        config = dataclasses.replace(config, data=dataclasses.replace(config.data, image_size=size))
        choice["image_size"] = f"{size} (the model's native size; data.image_size was 0)"
    return validate(config), choice


def _choose_image_model(config, given):
    side = median_short_side(config.data.source)
    if side is None or side < PHOTO_MIN_SIDE:
        why = ("not an image folder" if side is None
               else f"median short side {side:.0f} px < {PHOTO_MIN_SIDE} px: small images")
        log.info("model.name auto → resnet from scratch (%s)", why)
        return _replace(config, {"model.name": "resnet"}), {"rule": why, "name": "resnet", "pretrained": "none"}
    given = set(given) if given is not None else _changed_from_defaults(config)
    config, applied = _apply_defaults(config, PHOTO_DEFAULTS, given)
    why = f"median short side {side:.0f} px ≥ {PHOTO_MIN_SIDE} px: photos"
    log.info("model.name auto → %s, pretrained %s (%s); photo defaults for %d settings you did not give",
             config.model.name, config.model.pretrained, why, len(applied))
    return config, {"rule": why, "name": config.model.name, "pretrained": config.model.pretrained,
                    "photo_defaults": applied}


def _choose_text_model(config, given):
    given = set(given) if given is not None else _changed_from_defaults(config)
    config, applied = _apply_defaults(config, TEXT_DEFAULTS, given)
    log.info("model.name auto → kim_cnn; text defaults for %d settings you did not give", len(applied))
    choice = {"rule": "text", "name": "kim_cnn", "text_defaults": applied,
              "epochs_from_data": "train.epochs" not in given}
    return config, choice


def scale_text_epochs(config, choice, train_examples):
    """Sets `train.epochs` from the data size where the text defaults choose it; returns (config, choice).

    Enough epochs for TEXT_MIN_STEPS optimizer steps, within
    [TEXT_MIN_EPOCHS, TEXT_MAX_EPOCHS]; the choice records why.
    """
    if not choice.get("epochs_from_data"):
        return config, choice
    steps_per_epoch = steps_for(train_examples, config.data.batch_size)
    epochs = min(max(math.ceil(TEXT_MIN_STEPS / steps_per_epoch), TEXT_MIN_EPOCHS), TEXT_MAX_EPOCHS)
    choice = {**choice, "epochs_from_data": (f"{epochs} ({steps_per_epoch} steps an epoch over {train_examples} "
                                             f"examples; at least {TEXT_MIN_STEPS} steps, "
                                             f"{TEXT_MIN_EPOCHS}-{TEXT_MAX_EPOCHS} epochs)")}
    log.info("train.epochs → %s", choice["epochs_from_data"])
    return _replace(config, {"train.epochs": epochs}), choice


def median_short_side(source, sample=SAMPLED_FILES):
    """Median of min(width, height) over up to `sample` training files of an image folder (headers only).

    None for anything that is not an image folder (TFDS, the built-in digits, text).
    """
    from PIL import Image

    from lepton_tf.data.images import IMAGE_EXTENSIONS

    folder = Path(source)
    if not folder.is_dir():
        return None
    train = folder / "train" if (folder / "train").is_dir() else folder
    files = sorted(p for p in train.rglob("*") if p.suffix.lower() in IMAGE_EXTENSIONS and p.is_file())
    if not files:
        return None
    picked = np.random.default_rng(0).choice(len(files), min(sample, len(files)), replace=False)
    sides = []
    for index in picked:
        try:
            with Image.open(files[index]) as image:
                sides.append(min(image.size))
        except (OSError, ValueError):
            continue  # the loader reports unreadable files
    return float(np.median(sides)) if sides else None


def _native_size(config):
    if config.model.path:
        from lepton_tf.models.user_model import input_size

        return input_size(config.model.path) or FROM_SCRATCH_SIZE
    if config.model.name in efficientnet_lite.VARIANTS:
        return efficientnet_lite.native_size(config.model.name)
    return FROM_SCRATCH_SIZE


def _changed_from_defaults(config):
    defaults = flatten(Config())
    return {key for key, value in flatten(config).items() if defaults.get(key) != value}


def _apply_defaults(config, defaults, given):
    """(config with `defaults` for every setting not in `given`, the defaults that were applied)."""
    applied = {key: value for key, value in defaults.items() if key not in given}
    return _replace(config, applied), applied


def _replace(config, settings):
    values = to_dict(config)
    for dotted, value in settings.items():
        *parents, leaf = dotted.split(".")
        node = values
        for part in parents:
            node = node[part]
        node[leaf] = value
    return from_dict(values)
