"""Image augmentations as stateless TensorFlow ops.

Each function takes an explicit `seed` (a [2] int tensor), so the whole
pipeline is deterministic given `data.seed` however many threads run it.
Example-level ops work on float32 [H, W, 3] images in 0-255 pixel units;
`mix_batch` works on a normalised batch with one-hot labels.
"""

from lepton_tf.data.augmix import augmix
from lepton_tf.keras import tf


def augment_example(image, seed, config):
    """Applies crop-with-padding, flip, brightness, contrast and AugMix to one image.

    Args:
      image: float32 [H, W, 3] in 0-255.
      seed: int [2] stateless seed for this example.
      config: an `AugmentConfig`.

    Returns:
      The augmented image, float32 in 0-255.
    """
    seeds = tf.random.experimental.stateless_split(seed, num=4)
    if config.crop_padding > 0:
        image = random_crop_with_padding(image, config.crop_padding, seeds[0])
    if config.flip:
        image = tf.image.stateless_random_flip_left_right(image, seeds[1])
    if config.brightness > 0:
        image = tf.image.stateless_random_brightness(image, config.brightness, seeds[2])
    if config.contrast > 0:
        image = tf.image.stateless_random_contrast(image, 1 - config.contrast, 1 + config.contrast, seeds[3])
    image = tf.clip_by_value(image, 0.0, 255.0)
    if config.augmix > 0:
        # Its seed is folded in rather than split off, so turning AugMix on leaves the other draws as they
        # were; it blends images in 0-255, so its output stays in range.
        image = augmix(image, config.augmix, tf.random.experimental.stateless_fold_in(seed, 1))
    return image


def random_crop_with_padding(image, padding, seed):
    """Reflect-pads by `padding` pixels and crops a random window of the original size."""
    padded = tf.pad(image, [[padding, padding], [padding, padding], [0, 0]], mode="REFLECT")
    return tf.image.stateless_random_crop(padded, tf.shape(image), seed)


def cutout(image, size, seed):
    """Zeroes a size x size square (the mean, after normalisation) at a random centre."""
    height, width = tf.shape(image)[0], tf.shape(image)[1]
    centre = tf.random.stateless_uniform([2], seed, maxval=tf.int32.max, dtype=tf.int32)
    cy, cx = centre[0] % height, centre[1] % width
    rows = tf.range(height)[:, None]
    cols = tf.range(width)[None, :]
    inside = (tf.abs(rows - cy) * 2 < size) & (tf.abs(cols - cx) * 2 < size)
    return image * tf.cast(~inside, image.dtype)[:, :, None]


def _beta(alpha, seed):
    gammas = tf.random.stateless_gamma([2], seed, alpha=[alpha, alpha])
    return gammas[0] / (gammas[0] + gammas[1])


def mixup(images, labels, alpha, seed):
    """Blends each example with another of the batch (Zhang et al., 2018)."""
    seeds = tf.random.experimental.stateless_split(seed, num=2)
    weight = _beta(alpha, seeds[0])
    order = tf.random.experimental.stateless_shuffle(tf.range(tf.shape(images)[0]), seeds[1])
    images = weight * images + (1 - weight) * tf.gather(images, order)
    labels = weight * labels + (1 - weight) * tf.gather(labels, order)
    return images, labels


def cutmix(images, labels, alpha, seed):
    """Pastes a box from another example of the batch (Yun et al., 2019); labels by area."""
    seeds = tf.random.experimental.stateless_split(seed, num=3)
    weight = _beta(alpha, seeds[0])
    order = tf.random.experimental.stateless_shuffle(tf.range(tf.shape(images)[0]), seeds[1])
    height, width = tf.shape(images)[1], tf.shape(images)[2]
    ratio = tf.sqrt(1.0 - weight)
    box_h = tf.cast(tf.cast(height, tf.float32) * ratio, tf.int32)
    box_w = tf.cast(tf.cast(width, tf.float32) * ratio, tf.int32)
    corner = tf.random.stateless_uniform([2], seeds[2], maxval=tf.int32.max, dtype=tf.int32)
    top = corner[0] % (height - box_h + 1)
    left = corner[1] % (width - box_w + 1)
    rows = tf.range(height)[:, None]
    cols = tf.range(width)[None, :]
    box = (rows >= top) & (rows < top + box_h) & (cols >= left) & (cols < left + box_w)
    box = tf.cast(box, images.dtype)[None, :, :, None]
    images = images * (1 - box) + tf.gather(images, order) * box
    kept = 1.0 - tf.cast(box_h * box_w, tf.float32) / tf.cast(height * width, tf.float32)
    labels = kept * labels + (1 - kept) * tf.gather(labels, order)
    return images, labels


def mix_batch(images, labels, seed, config):
    """Applies mixup or cutmix (one of them, drawn per batch, when both are on)."""
    if config.mixup > 0 and config.cutmix > 0:
        seeds = tf.random.experimental.stateless_split(seed, num=2)
        pick_mixup = tf.random.stateless_uniform([], seeds[0]) < 0.5
        return tf.cond(
            pick_mixup,
            lambda: mixup(images, labels, config.mixup, seeds[1]),
            lambda: cutmix(images, labels, config.cutmix, seeds[1]))
    if config.mixup > 0:
        return mixup(images, labels, config.mixup, seed)
    if config.cutmix > 0:
        return cutmix(images, labels, config.cutmix, seed)
    return images, labels
