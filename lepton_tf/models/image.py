"""Image classifiers built from Conv-BN-ReLU blocks that TF-MOT folds and quantizes.

Every model is functional (TF-MOT cannot quantize subclassed or nested
models), takes normalised float32 images of any size and ends in a float32
softmax named `probabilities`.
"""

from lepton_tf.keras import keras

layers = keras.layers


# Moving-average momentum of batch norm: Keras' 0.99 needs thousands of steps
# before inference statistics settle; short CPU schedules need faster ones.
BN_MOMENTUM = 0.9


def batch_norm(name):
    return layers.BatchNormalization(momentum=BN_MOMENTUM, name=name)


def conv_bn(x, filters, kernel_size=3, strides=1, name=None):
    """Conv2D without bias followed by BatchNormalization (folded at export)."""
    x = layers.Conv2D(filters, kernel_size, strides=strides, padding="same", use_bias=False,
                      kernel_initializer="he_normal", name=f"{name}_conv")(x)
    return batch_norm(f"{name}_bn")(x)


def conv_bn_relu(x, filters, kernel_size=3, strides=1, name=None, max_value=None):
    """Conv-BN-ReLU (ReLU6 when `max_value=6`), the pattern TF-MOT fuses."""
    x = conv_bn(x, filters, kernel_size, strides, name)
    return layers.ReLU(max_value=max_value, name=f"{name}_relu")(x)


def classifier_head(x, num_classes, dropout):
    """Global average pool → dropout → Dense logits → float32 softmax."""
    x = layers.GlobalAveragePooling2D(name="pool")(x)
    if dropout > 0:
        x = layers.Dropout(dropout, name="dropout")(x)
    x = layers.Dense(num_classes, name="logits")(x)
    # float32 even under mixed precision: probabilities must not be float16.
    return layers.Activation("softmax", dtype="float32", name="probabilities")(x)


def resnet(input_shape, num_classes, width=16, dropout=0.0):
    """A ResNet-9-style net for small images (Page, 2018; airbench's layout).

    Stages of width w, 2w, 4w, 8w; max-pool halves the resolution after stages
    1-3; stages 1 and 3 add a two-conv residual branch.

    Args:
      input_shape: (height, width, channels).
      num_classes: number of output classes.
      width: channels of the stem; later stages double it.
      dropout: dropout rate before the classifier.

    Returns:
      A functional `keras.Model`.
    """
    inputs = keras.Input(input_shape, name="image")
    x = conv_bn_relu(inputs, width, name="stem")
    for stage, (multiplier, residual) in enumerate([(2, True), (4, False), (8, True)], start=1):
        x = conv_bn_relu(x, width * multiplier, name=f"stage{stage}")
        x = layers.MaxPooling2D(2, name=f"stage{stage}_pool")(x)
        if residual:
            branch = conv_bn_relu(x, width * multiplier, name=f"stage{stage}_res1")
            branch = conv_bn_relu(branch, width * multiplier, name=f"stage{stage}_res2")
            x = layers.Add(name=f"stage{stage}_add")([x, branch])
    return keras.Model(inputs, classifier_head(x, num_classes, dropout), name="resnet")


# (expansion, output channels, repeats, first stride) — MobileNetV2 (Sandler et al., 2018).
MOBILENET_V2_BLOCKS = [(1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2),
                       (6, 96, 3, 1), (6, 160, 3, 2), (6, 320, 1, 1)]


def _divisible(channels, divisor=8):
    """Rounds channels to a multiple of 8, never below 90% of the request (as MobileNetV2 does)."""
    rounded = max(divisor, int(channels + divisor / 2) // divisor * divisor)
    return rounded + divisor if rounded < 0.9 * channels else rounded


def inverted_residual(x, expansion, filters, strides, name, kernel_size=3):
    """Expand (1x1) → depthwise k x k (3x3 by default) → linear project (1x1), with a skip when shapes match."""
    in_channels = x.shape[-1]
    y = x
    if expansion != 1:
        y = conv_bn_relu(y, in_channels * expansion, 1, name=f"{name}_expand", max_value=6.0)
    y = layers.DepthwiseConv2D(kernel_size, strides=strides, padding="same", use_bias=False, name=f"{name}_dw")(y)
    y = batch_norm(f"{name}_dw_bn")(y)
    y = layers.ReLU(max_value=6.0, name=f"{name}_dw_relu")(y)
    y = conv_bn(y, filters, 1, name=f"{name}_project")
    if strides == 1 and in_channels == filters:
        y = layers.Add(name=f"{name}_add")([x, y])
    return y


def mobilenet_v2(input_shape, num_classes, alpha=1.0, dropout=0.2):
    """MobileNetV2 with a width multiplier.

    For inputs of 64 pixels or fewer the stem and the second stage keep
    stride 1 (the usual CIFAR adaptation), so 32x32 images still end at 4x4.

    Args:
      input_shape: (height, width, channels).
      num_classes: number of output classes.
      alpha: width multiplier for every layer (the last 1x1 conv never shrinks below 1280).
      dropout: dropout rate before the classifier.

    Returns:
      A functional `keras.Model`.
    """
    small = min(input_shape[0], input_shape[1]) <= 64
    inputs = keras.Input(input_shape, name="image")
    x = conv_bn_relu(inputs, _divisible(32 * alpha), strides=1 if small else 2, name="stem", max_value=6.0)
    for block, (expansion, channels, repeats, stride) in enumerate(MOBILENET_V2_BLOCKS):
        if small and block == 1:
            stride = 1
        for repeat in range(repeats):
            x = inverted_residual(x, expansion, _divisible(channels * alpha),
                                  stride if repeat == 0 else 1, name=f"block{block}_{repeat}")
    x = conv_bn_relu(x, _divisible(1280 * max(alpha, 1.0)), 1, name="head", max_value=6.0)
    return keras.Model(inputs, classifier_head(x, num_classes, dropout), name="mobilenet_v2")
