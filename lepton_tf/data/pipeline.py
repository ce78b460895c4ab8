"""The `tf.data` input pipeline: shuffle → augment → normalise → batch → mix → prefetch.

Images arrive already decoded and held in memory (the decode → cache stage
runs once, at load time, in `images.py`). Normalisation happens here, not in
the model, because TF-MOT cannot quantize preprocessing layers; the same
mean/std go into the model card and the SavedModel signature.
"""

import dataclasses

import numpy as np

from lepton_tf.data import disk_cache
from lepton_tf.data.augment import augment_example, cutout, mix_batch
from lepton_tf.keras import tf

AUTOTUNE = tf.data.AUTOTUNE


def finish(dataset):
    """Prefetches, and shards by example under multi-worker training.

    The examples live in memory, not in files, so `tf.data`'s default
    (shard by file, falling back with a warning) is replaced by sharding the
    examples themselves: each worker takes every n-th one.
    """
    options = tf.data.Options()
    options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
    return dataset.prefetch(AUTOTUNE).with_options(options)


@dataclasses.dataclass
class Normalization:
    """Per-channel mean and std in 0-255 pixel units: x_model = (pixel - mean) / std."""

    mean: list
    std: list

    @classmethod
    def from_images(cls, images):
        """Measures the per-channel mean and std of uint8 images [N, H, W, 3], a chunk at a time."""
        total = squares = 0.0
        count = 0
        for chunk in disk_cache.chunks(images):
            pixels = chunk.reshape(-1, chunk.shape[-1]).astype(np.float64)
            total = total + pixels.sum(axis=0)
            squares = squares + np.square(pixels).sum(axis=0)
            count += len(pixels)
        mean = total / count
        std = np.maximum(np.sqrt(np.maximum(squares / count - np.square(mean), 0.0)), 1.0)  # no division by 0
        return cls([round(float(v), 4) for v in mean], [round(float(v), 4) for v in std])

    def apply(self, images):
        """Normalises uint8/float images (numpy or tensor) to float32."""
        mean = tf.constant(self.mean, tf.float32)
        std = tf.constant(self.std, tf.float32)
        return (tf.cast(images, tf.float32) - mean) / std

    def apply_numpy(self, images):
        """Normalises a numpy uint8 batch to float32 numpy."""
        return ((images.astype(np.float32) - np.float32(self.mean)) / np.float32(self.std)).astype(np.float32)


def _examples(split, seed, shuffle):
    """(uint8 image, label) elements of a split, reshuffled each epoch when `shuffle`.

    A disk-backed split shuffles indices and reads each image from its
    memory map, so the shuffle buffer holds integers, not images.
    """
    if not disk_cache.is_on_disk(split.images):
        dataset = tf.data.Dataset.from_tensor_slices((split.images, split.labels))
        return dataset.shuffle(len(split), seed=seed, reshuffle_each_iteration=True) if shuffle else dataset
    images = split.images
    dataset = tf.data.Dataset.from_tensor_slices((np.arange(len(split)), split.labels))
    if shuffle:
        dataset = dataset.shuffle(len(split), seed=seed, reshuffle_each_iteration=True)

    def read(index, label):
        image = tf.numpy_function(lambda i: np.asarray(images[i]), [index], tf.uint8, stateful=False)
        return tf.ensure_shape(image, images.shape[1:]), label

    return dataset.map(read, num_parallel_calls=AUTOTUNE, deterministic=True)


def make_dataset(split, num_classes, normalization, batch_size, seed=0, augment=None):
    """Builds a batched `tf.data.Dataset` of (normalised image, one-hot label).

    Args:
      split: an `ImageSplit`.
      num_classes: length of the one-hot labels.
      normalization: a `Normalization`.
      batch_size: examples a batch.
      seed: shuffling and augmentation seed; each epoch reshuffles and redraws
        augmentations deterministically from it.
      augment: an `AugmentConfig` for training; None for evaluation (no
        shuffle, no augmentation, the last partial batch kept).

    Returns:
      A `tf.data.Dataset` yielding (float32 [B, H, W, 3], float32 [B, num_classes]).
    """
    one_hot = lambda labels: tf.one_hot(labels, num_classes, dtype=tf.float32)  # noqa: E731
    if augment is None:
        dataset = _examples(split, seed, shuffle=False).batch(batch_size).map(
            lambda x, y: (normalization.apply(x), one_hot(y)), num_parallel_calls=AUTOTUNE)
        return finish(dataset)
    dataset = _examples(split, seed, shuffle=True)
    example_seeds = tf.data.Dataset.random(seed=seed, rerandomize_each_iteration=True).batch(2)
    dataset = tf.data.Dataset.zip((dataset, example_seeds))

    def augment_one(pair, example_seed):
        image, label = pair
        seeds = tf.random.experimental.stateless_split(example_seed, num=2)
        image = augment_example(tf.cast(image, tf.float32), seeds[0], augment)
        image = normalization.apply(image)
        if augment.cutout > 0:
            image = cutout(image, augment.cutout, seeds[1])
        return image, one_hot(label)

    dataset = dataset.map(augment_one, num_parallel_calls=AUTOTUNE)
    dataset = dataset.batch(batch_size, drop_remainder=len(split) >= batch_size)
    if augment.mixup > 0 or augment.cutmix > 0:
        batch_seeds = tf.data.Dataset.random(seed=seed + 1, rerandomize_each_iteration=True).batch(2)
        dataset = tf.data.Dataset.zip((dataset, batch_seeds)).map(
            lambda batch, batch_seed: mix_batch(batch[0], batch[1], batch_seed, augment),
            num_parallel_calls=AUTOTUNE)
    return finish(dataset)
