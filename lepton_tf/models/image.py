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


def conv_bn(x, filters, kernel_size=3, strides=1, name=None, padding="same"):
    """Conv2D without bias followed by BatchNormalization (folded at export)."""
    x = layers.Conv2D(filters, kernel_size, strides=strides, padding=padding, use_bias=False,
                      kernel_initializer="he_normal", name=f"{name}_conv")(x)
    return batch_norm(f"{name}_bn")(x)


def conv_bn_relu(x, filters, kernel_size=3, strides=1, name=None, max_value=None, padding="same"):
    """Conv-BN-ReLU (ReLU6 when `max_value=6`), the pattern TF-MOT fuses."""
    x = conv_bn(x, filters, kernel_size, strides, name, padding)
    return layers.ReLU(max_value=max_value, name=f"{name}_relu")(x)


def classifier_head(x, num_classes, dropout, keepdims=False):
    """Global average pool → dropout → Dense logits → float32 softmax.

    `keepdims` pools to 1x1 and flattens after: the pool XNNPACK's sparse
    (CHW) path ends with, which TF-MOT's `PruneForLatencyOnXNNPack` requires.
    """
    x = layers.GlobalAveragePooling2D(keepdims=keepdims, name="pool")(x)
    if keepdims:
        x = layers.Flatten(name="flatten")(x)
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


# airbench94 (Jordan, 2024): PyTorch's momentum 0.4 is Keras' 0.6. Its epsilon of
# 1e-12 is not kept: folded into a convolution, a channel of near-constant output
# gets a scale near 1e6, and its spikes then set the int8 range of every channel.
AIRBENCH_BN_MOMENTUM = 0.6
AIRBENCH_BN_EPSILON = 1e-5
# Its logits are the linear layer's output times 1/9. A plain Dense initialised
# 1/9 as large, whose gradient steps are 1/81 as large, trains identically under
# SGD and leaves no extra op for TF-MOT or the converter to handle.
AIRBENCH_LOGIT_SCALE = 1 / 9


def _torch_default_init():
    """PyTorch's default conv/linear initialisation, U(±1/sqrt(fan_in)), which airbench's recipe is tuned for."""
    return keras.initializers.VarianceScaling(1 / 3, mode="fan_in", distribution="uniform")


def _airbench_conv_bn(x, filters, name):
    """3x3 Conv (no bias) → batch norm without a learned scale, as airbench has it."""
    x = layers.Conv2D(filters, 3, padding="same", use_bias=False, kernel_initializer=_torch_default_init(),
                      name=f"{name}_conv")(x)
    return layers.BatchNormalization(momentum=AIRBENCH_BN_MOMENTUM, epsilon=AIRBENCH_BN_EPSILON, scale=False,
                                     name=f"{name}_bn")(x)


def airbench(input_shape, num_classes, width=64):
    """airbench94's network (Jordan, 2024, arXiv 2404.00498), in the order TF-MOT folds and quantizes.

    A frozen 2x2 whitening convolution (`whiten`, set from the training data by
    `lepton_tf.models.whitening`) → GELU → three groups of conv → max-pool →
    BN → GELU → conv → BN → GELU, of widths w, 4w, 4w → global max pool →
    a bias-free Dense. airbench pools *before* its first batch norm; this
    puts the norm first so TF-MOT can fold it into the convolution. With no
    learned scale the norm is a per-channel increasing map, which commutes with
    max-pooling, so the network computes the same function (its batch
    statistics are taken over the pre-pool map).

    Args:
      input_shape: (height, width, channels).
      num_classes: number of output classes.
      width: channels of the first group (64 in airbench94).

    Returns:
      A functional `keras.Model`, its convolutions partly identity-initialised
      (airbench's Dirac init) and its classifier scaled (`AIRBENCH_LOGIT_SCALE`).
    """
    inputs = keras.Input(input_shape, name="image")
    whiten_width = 2 * input_shape[-1] * 2 * 2  # each 2x2 patch eigenvector and its negative
    x = layers.Conv2D(whiten_width, 2, padding="valid", name="whiten")(inputs)
    x = layers.Activation("gelu", name="whiten_gelu")(x)
    for group, filters in enumerate([width, 4 * width, 4 * width], start=1):
        x = _airbench_conv_bn(x, filters, name=f"group{group}_1")
        if min(x.shape[1], x.shape[2]) >= 2:  # tiny inputs reach 1x1 early; pooling stops there
            x = layers.MaxPooling2D(2, name=f"group{group}_pool")(x)
        x = layers.Activation("gelu", name=f"group{group}_1_gelu")(x)
        x = _airbench_conv_bn(x, filters, name=f"group{group}_2")
        x = layers.Activation("gelu", name=f"group{group}_2_gelu")(x)
    x = layers.GlobalMaxPooling2D(name="pool")(x)
    x = layers.Dense(num_classes, use_bias=False, kernel_initializer=_torch_default_init(), name="logits")(x)
    outputs = layers.Activation("softmax", dtype="float32", name="probabilities")(x)
    model = keras.Model(inputs, outputs, name="airbench")
    _dirac_init(model)
    logits = model.get_layer("logits")
    logits.kernel.assign(logits.kernel * AIRBENCH_LOGIT_SCALE)
    return model


def airbench_learning_rate_scales():
    """Per-variable learning-rate factors airbench's recipe needs (by variable-name fragment).

    The whitening kernel stays as computed from the data (its bias trains), and
    the classifier steps 1/81 as far, which with its 1/9 initialisation is
    airbench's `Linear` followed by `Mul(1/9)`.
    """
    return {"whiten/kernel": 0.0, "logits/kernel": AIRBENCH_LOGIT_SCALE ** 2}


def _dirac_init(model):
    """Sets the first `in_channels` filters of each 3x3 convolution to the identity (airbench's Dirac init)."""
    for layer in model.layers:
        if isinstance(layer, layers.Conv2D) and layer.kernel_size == (3, 3):
            kernel = layer.kernel.numpy()
            identities = min(kernel.shape[2], kernel.shape[3])
            kernel[:, :, :, :identities] = 0.0
            kernel[1, 1, range(identities), range(identities)] = 1.0
            layer.kernel.assign(kernel)


# (expansion, output channels, repeats, first stride) — MobileNetV2 (Sandler et al., 2018).
MOBILENET_V2_BLOCKS = [(1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2),
                       (6, 96, 3, 1), (6, 160, 3, 2), (6, 320, 1, 1)]


def _divisible(channels, divisor=8):
    """Rounds channels to a multiple of 8, never below 90% of the request (as MobileNetV2 does)."""
    rounded = max(divisor, int(channels + divisor / 2) // divisor * divisor)
    return rounded + divisor if rounded < 0.9 * channels else rounded


def stride_padding(x, strides, name):
    """(x, padding) for a 3x3 convolution: stride 2 pads one pixel each side explicitly, then 'valid'.

    The output size is 'same' padding's; the explicit, symmetric padding is
    what XNNPACK's sparse inference and TF-MOT's `PruneForLatencyOnXNNPack` accept.
    """
    if strides == 1:
        return x, "same"
    return layers.ZeroPadding2D(((1, 1), (1, 1)), name=f"{name}_pad")(x), "valid"


def inverted_residual(x, expansion, filters, strides, name, kernel_size=3, explicit_padding=False):
    """Expand (1x1) → depthwise k x k (3x3 by default) → linear project (1x1), with a skip when shapes match.

    `explicit_padding` pads a stride-2 3x3 depthwise convolution as `stride_padding`
    does (EfficientNet-Lite keeps 'same', the padding its ImageNet weights learned with).
    """
    in_channels = x.shape[-1]
    y = x
    if expansion != 1:
        y = conv_bn_relu(y, in_channels * expansion, 1, name=f"{name}_expand", max_value=6.0)
    padding = "same"
    if explicit_padding:
        y, padding = stride_padding(y, strides, f"{name}_dw")
    y = layers.DepthwiseConv2D(kernel_size, strides=strides, padding=padding, use_bias=False, name=f"{name}_dw")(y)
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
    stem_strides = 1 if small else 2
    x, padding = stride_padding(inputs, stem_strides, "stem")
    x = conv_bn_relu(x, _divisible(32 * alpha), strides=stem_strides, name="stem", max_value=6.0, padding=padding)
    for block, (expansion, channels, repeats, stride) in enumerate(MOBILENET_V2_BLOCKS):
        if small and block == 1:
            stride = 1
        for repeat in range(repeats):
            x = inverted_residual(x, expansion, _divisible(channels * alpha),
                                  stride if repeat == 0 else 1, name=f"block{block}_{repeat}", explicit_padding=True)
    x = conv_bn_relu(x, _divisible(1280 * max(alpha, 1.0)), 1, name="head", max_value=6.0)
    return keras.Model(inputs, classifier_head(x, num_classes, dropout, keepdims=True), name="mobilenet_v2")
