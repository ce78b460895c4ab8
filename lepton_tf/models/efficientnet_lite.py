"""EfficientNet-Lite0/1/2 (Tan and Le, 2019; the TFLite variant) as functional tf_keras models.

EfficientNet-Lite is EfficientNet without squeeze-and-excitation, with ReLU6
instead of swish and with the stem and head kept at their base width, so
every block is an inverted residual that TF-MOT can fold and quantize. The
layout follows `efficientnet_lite_builder.py` of the official TensorFlow code
and the `efficientnet_lite_pytorch` package whose converted ImageNet weights
`pretrained.py` loads: the same block table, rounding and repeats.

Layer names: `stem_*`, then `block{i}_*` with a global block index from 0,
then `top_*` (the 1x1 head conv), then the classifier head (`pool`,
`dropout`, `logits`, `probabilities`).
"""

import math
import re

from lepton_tf.errors import ConfigError
from lepton_tf.keras import keras
from lepton_tf.models.image import _divisible, classifier_head, conv_bn_relu, inverted_residual

# name: (width multiplier, depth multiplier, native input size in pixels, dropout rate),
# as `efficientnet_params` of the package (and the official builder) give them.
VARIANTS = {
    "efficientnet_lite0": (1.0, 1.0, 224, 0.2),
    "efficientnet_lite1": (1.0, 1.1, 240, 0.2),
    "efficientnet_lite2": (1.1, 1.2, 260, 0.3),
}

# One row a block group: (repeats, depthwise kernel, first stride, expansion, output channels),
# from the official block strings 'r1_k3_s11_e1_i32_o16', ..., 'r1_k3_s11_e6_i192_o320'.
BLOCK_GROUPS = [(1, 3, 1, 1, 16), (2, 3, 2, 6, 24), (2, 5, 2, 6, 40), (3, 3, 2, 6, 80),
                (3, 5, 1, 6, 112), (4, 5, 2, 6, 192), (1, 3, 1, 6, 320)]
STEM_CHANNELS = 32  # not scaled in the Lite models
HEAD_CHANNELS = 1280  # not scaled in the Lite models

_BLOCK_NAME = re.compile(r"^block(\d+)_")


def _check(variant):
    if variant not in VARIANTS:
        raise ConfigError(f"unknown EfficientNet-Lite variant '{variant}'; choose one of {', '.join(VARIANTS)}")
    return VARIANTS[variant]


def round_filters(channels, width):
    """Scales channels by `width` and rounds to a multiple of 8, never more than 10% down.

    The official `round_filters` is MobileNetV2's rounding, which `image` already has.
    """
    return _divisible(channels * width)


def block_specs(variant):
    """The blocks of a variant in order: (kernel, stride, expansion, output channels) each.

    The first and last groups keep their single block (Lite's fixed stem and
    head); the others repeat ceil(depth x repeats) times, only the first of a
    group with the group's stride.
    """
    width, depth, _, _ = _check(variant)
    specs = []
    for group, (repeats, kernel, stride, expansion, channels) in enumerate(BLOCK_GROUPS):
        if 0 < group < len(BLOCK_GROUPS) - 1:
            repeats = int(math.ceil(depth * repeats))
        for repeat in range(repeats):
            specs.append((kernel, stride if repeat == 0 else 1, expansion, round_filters(channels, width)))
    return specs


def block_count(variant):
    """Number of inverted-residual blocks: 16 for Lite0, 21 for Lite1 and Lite2."""
    return len(block_specs(variant))


def native_size(variant):
    """The input size (pixels, square) the ImageNet weights were trained at."""
    return _check(variant)[2]


def features(inputs, variant):
    """Builds the EfficientNet-Lite backbone on a Keras tensor.

    Args:
      inputs: a Keras tensor of normalised images [batch, height, width, 3], any size.
      variant: a key of `VARIANTS`.

    Returns:
      The last feature map (1x1 head conv → BN → ReLU6, 1280 channels), layer `top_relu`.

    Raises:
      ConfigError: an unknown variant.
    """
    # padding="same" is TF's SAME (the extra pixel goes bottom/right), which is
    # what the package's static same-padding reproduces at its native size.
    x = conv_bn_relu(inputs, STEM_CHANNELS, 3, strides=2, name="stem", max_value=6.0)
    for index, (kernel, stride, expansion, channels) in enumerate(block_specs(variant)):
        x = inverted_residual(x, expansion, channels, stride, name=f"block{index}", kernel_size=kernel)
    return conv_bn_relu(x, HEAD_CHANNELS, 1, name="top", max_value=6.0)


def efficientnet_lite(input_shape, num_classes, variant="efficientnet_lite0", dropout=None):
    """An EfficientNet-Lite classifier: backbone → pool → dropout → Dense → softmax.

    Args:
      input_shape: (height, width, 3).
      num_classes: number of output classes.
      variant: a key of `VARIANTS`.
      dropout: dropout rate before the classifier; None uses the variant's (0.2 or 0.3).

    Returns:
      A functional `keras.Model` named after the variant.

    Raises:
      ConfigError: an unknown variant.

    Example:
      model = efficientnet_lite((224, 224, 3), 10, "efficientnet_lite0")
      pretrained.load_backbone_weights(model, "efficientnet_lite0")
    """
    rate = _check(variant)[3] if dropout is None else dropout
    inputs = keras.Input(input_shape, name="image")
    outputs = classifier_head(features(inputs, variant), num_classes, rate)
    return keras.Model(inputs, outputs, name=variant)


def backbone(model):
    """The backbone of a classifier built by `efficientnet_lite`: image → `top_relu`, sharing its layers."""
    return keras.Model(model.input, model.get_layer("top_relu").output, name=f"{model.name}_backbone")


def layers_by_block(model):
    """Layer names of an EfficientNet-Lite model grouped by block index, for unfreezing the top N blocks.

    Returns:
      {block index: [layer names]}, in block order; stem and head layers are not included.
    """
    blocks = {}
    for layer in model.layers:
        match = _BLOCK_NAME.match(layer.name)
        if match:
            blocks.setdefault(int(match.group(1)), []).append(layer.name)
    return dict(sorted(blocks.items()))
