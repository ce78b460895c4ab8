"""AugMix (Hendrycks et al., 2020) as stateless TensorFlow ops: robustness to common corruptions.

Each image is augmented along `WIDTH` chains of 1-3 operations drawn from
`OPERATIONS`, the chains are blended with Dirichlet weights and the blend is
mixed back into the original with a Beta weight, as the paper's reference
code does. The operations are the paper's: none of them is one of the
ImageNet-C corruptions the model is later tested on (contrast, brightness,
colour and sharpness are left out on purpose).

Only the mixing is here, not the paper's Jensen-Shannon consistency loss: that
needs three views of every example in one training step, which neither
`model.fit` nor the TF-MOT fine-tunes that follow offer without a custom step.

Images are float32 [H, W, 3] in 0-255, as in `augment`; every draw comes from
the explicit `seed`, so the pipeline stays deterministic given `data.seed`.
(`keras.layers.AugMix` is not used: it picks its operations with Python's
`random` when the graph is traced, so a `tf.data` pipeline would apply the
same chains to every image of every epoch.)
"""

import math

from lepton_tf.keras import tf

WIDTH = 3  # chains blended per image
MAX_DEPTH = 3  # each chain applies 1 to MAX_DEPTH operations
ALPHA = 1.0  # of the Dirichlet chain weights and the Beta mixing weight


def augmix(image, severity, seed):
    """AugMix of one image.

    Args:
      image: float32 [H, W, 3] in 0-255.
      severity: 1-10, the strength of every operation (the paper uses 3).
      seed: int [2] stateless seed for this example.

    Returns:
      The mixed image, float32 [H, W, 3] in 0-255.
    """
    seeds = tf.random.experimental.stateless_split(seed, num=WIDTH + 2)
    chain_weights = _dirichlet(WIDTH, seeds[0])
    keep = _beta(seeds[1])
    mixed = tf.zeros_like(image)
    for chain in range(WIDTH):
        mixed += chain_weights[chain] * _chain(image, severity, seeds[chain + 2])
    return (1.0 - keep) * image + keep * mixed


def _chain(image, severity, seed):
    """1 to MAX_DEPTH operations, each drawn uniformly from OPERATIONS."""
    seeds = tf.random.experimental.stateless_split(seed, num=MAX_DEPTH + 1)
    depth = tf.random.stateless_uniform([], seeds[0], 1, MAX_DEPTH + 1, dtype=tf.int32)
    for step in range(MAX_DEPTH):
        image = tf.cond(step < depth, lambda s=seeds[step + 1], x=image: apply_operation(x, severity, s),
                        lambda x=image: x)
    return image


def apply_operation(image, severity, seed):
    """One operation of OPERATIONS, drawn from `seed`, at a strength drawn up to `severity`."""
    seeds = tf.random.experimental.stateless_split(seed, num=3)
    index = tf.random.stateless_uniform([], seeds[0], 0, len(OPERATIONS), dtype=tf.int32)
    # The paper's sample_level: a strength in [0.1, severity], out of 10; its sign is drawn separately.
    level = tf.random.stateless_uniform([], seeds[1], 0.1, float(severity)) / 10.0
    sign = tf.where(tf.random.stateless_uniform([], seeds[2]) < 0.5, -1.0, 1.0)
    branches = [lambda op=op: tf.ensure_shape(op(image, level, sign), image.shape) for op in OPERATIONS.values()]
    return tf.switch_case(index, branches)


def _dirichlet(count, seed):
    gammas = tf.random.stateless_gamma([count], seed, alpha=ALPHA)
    return gammas / tf.reduce_sum(gammas)


def _beta(seed):
    gammas = tf.random.stateless_gamma([2], seed, alpha=[ALPHA, ALPHA])
    return gammas[0] / (gammas[0] + gammas[1])


def _levels(level, most):
    """The paper's int_parameter: floor(level * most), with `level` its sampled level / 10 (at most severity / 10)."""
    return tf.floor(level * most)


def autocontrast(image, level, sign):
    """Stretches each channel to the full 0-255 range, whole pixel values as PIL's (one-value channels stay)."""
    image = tf.clip_by_value(tf.round(image), 0, 255)
    low = tf.reduce_min(image, axis=[0, 1], keepdims=True)
    high = tf.reduce_max(image, axis=[0, 1], keepdims=True)
    scale = 255.0 / tf.maximum(high - low, 1.0)
    # Exact results sit 1/(high - low) >= 1/255 from the next integer: 1e-3 absorbs float32 error, as in PIL's doubles.
    stretched = tf.floor(image * scale - low * scale + 1e-3)
    return tf.where(high > low, stretched, image)


def equalize(image, level, sign):
    """Histogram-equalises each channel, as PIL's ImageOps.equalize does."""
    pixels = tf.cast(tf.clip_by_value(tf.round(image), 0, 255), tf.int32)
    return tf.stack([_equalize_channel(pixels[:, :, channel]) for channel in range(3)], axis=-1)


def _equalize_channel(pixels):
    histogram = tf.math.bincount(tf.reshape(pixels, [-1]), minlength=256, maxlength=256)
    present = tf.boolean_mask(histogram, histogram > 0)
    step = (tf.reduce_sum(present) - present[-1]) // 255  # PIL leaves out the brightest value's count
    safe_step = tf.maximum(step, 1)
    table = tf.concat([[0], (tf.cumsum(histogram)[:-1] + safe_step // 2) // safe_step], axis=0)
    equalised = tf.gather(tf.clip_by_value(table, 0, 255), pixels)
    return tf.cast(tf.where(step > 0, equalised, pixels), tf.float32)


def posterize(image, level, sign):
    """Keeps the top 4 - floor(4 * level) bits of each pixel."""
    shift = 4.0 + _levels(level, 4)  # bits dropped
    step = tf.pow(2.0, shift)
    return tf.floor(tf.clip_by_value(tf.round(image), 0, 255) / step) * step


def solarize(image, level, sign):
    """Inverts the pixels at or above 256 - floor(256 * level)."""
    threshold = 256.0 - _levels(level, 256)
    return tf.where(image >= threshold, 255.0 - image, image)


def rotate(image, level, sign):
    """Rotates about the centre by up to 30 degrees; corners fill with black."""
    angle = sign * _levels(level, 30) * math.pi / 180.0
    height, width = _size(image)
    cy, cx = (height - 1) / 2, (width - 1) / 2
    cos, sin = tf.cos(angle), tf.sin(angle)
    # Output pixel (x, y) reads input (cos·(x-cx) - sin·(y-cy) + cx, sin·(x-cx) + cos·(y-cy) + cy).
    return _affine(image, [cos, -sin, cx - cos * cx + sin * cy, sin, cos, cy - sin * cx - cos * cy])


def shear_x(image, level, sign):
    """Shears horizontally by up to 0.3."""
    return _affine(image, [1.0, sign * level * 0.3, 0.0, 0.0, 1.0, 0.0])


def shear_y(image, level, sign):
    """Shears vertically by up to 0.3."""
    return _affine(image, [1.0, 0.0, 0.0, sign * level * 0.3, 1.0, 0.0])


def translate_x(image, level, sign):
    """Shifts horizontally by up to a third of the width."""
    _, width = _size(image)
    return _affine(image, [1.0, 0.0, sign * _levels(level, width / 3), 0.0, 1.0, 0.0])


def translate_y(image, level, sign):
    """Shifts vertically by up to a third of the height."""
    height, _ = _size(image)
    return _affine(image, [1.0, 0.0, 0.0, 0.0, 1.0, sign * _levels(level, height / 3)])


def _size(image):
    shape = tf.cast(tf.shape(image), tf.float32)
    return shape[0], shape[1]


def _affine(image, coefficients):
    """Bilinear affine warp; `coefficients` map output (x, y) to input coordinates, as PIL's AFFINE does."""
    transform = tf.reshape(tf.stack([tf.cast(value, tf.float32) for value in coefficients] + [0.0, 0.0]), [1, 8])
    warped = tf.raw_ops.ImageProjectiveTransformV3(
        images=image[None], transforms=transform, output_shape=tf.shape(image)[:2], fill_value=0.0,
        interpolation="BILINEAR", fill_mode="CONSTANT")
    return warped[0]


# The paper's `augmentations` list (augmentations.py of its reference code), in its order.
OPERATIONS = {"autocontrast": autocontrast, "equalize": equalize, "posterize": posterize, "rotate": rotate,
              "solarize": solarize, "shear_x": shear_x, "shear_y": shear_y, "translate_x": translate_x,
              "translate_y": translate_y}
