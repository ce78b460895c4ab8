import dataclasses

import numpy as np

from lepton_tf.config import AugmentConfig
from lepton_tf.data.augment import cutmix, cutout, mixup
from lepton_tf.data.pipeline import Normalization, make_dataset
from lepton_tf.data.splits import ImageSplit
from lepton_tf.keras import tf

ALL_ON = AugmentConfig(crop_padding=2, flip=True, brightness=20.0, contrast=0.2, cutout=4, mixup=0.4, cutmix=1.0,
                       augmix=3)


def random_split(count=24, size=10, seed=0):
    rng = np.random.default_rng(seed)
    images = rng.integers(0, 256, (count, size, size, 3), dtype=np.uint8)
    return ImageSplit(images, (np.arange(count) % 3).astype(np.int32), [str(i) for i in range(count)])


def epochs(dataset, count=2):
    return [[(x.numpy(), y.numpy()) for x, y in dataset] for _ in range(count)]


def same(first, second):
    return all(np.array_equal(a[0], b[0]) and np.array_equal(a[1], b[1]) for a, b in zip(first, second))


def build(split, seed, augment=ALL_ON, batch=8):
    norm = Normalization.from_images(split.images)
    return make_dataset(split, 3, norm, batch, seed=seed, augment=augment)


def test_augmented_pipeline_is_deterministic_given_the_seed():
    split = random_split()
    run_a, run_b = epochs(build(split, 7)), epochs(build(split, 7))
    assert same(run_a[0], run_b[0]) and same(run_a[1], run_b[1])
    assert not same(run_a[0], run_a[1])  # each epoch draws new shuffles and augmentations
    assert not same(run_a[0], epochs(build(split, 8), 1)[0])


def test_evaluation_pipeline_only_normalises_in_order():
    split = random_split(count=10)
    norm = Normalization.from_images(split.images)
    batches = list(make_dataset(split, 3, norm, 4))
    images = np.concatenate([x.numpy() for x, _ in batches])
    labels = np.concatenate([y.numpy() for _, y in batches]).argmax(-1)
    np.testing.assert_allclose(images, norm.apply_numpy(split.images), rtol=1e-6)
    assert np.array_equal(labels, split.labels)


def test_normalisation_statistics_are_per_channel_pixels():
    images = np.zeros((2, 4, 4, 3), np.uint8)
    images[..., 0] = 200
    images[1, ..., 1] = 100
    norm = Normalization.from_images(images)
    assert norm.mean == [200.0, 50.0, 0.0]
    assert norm.std == [1.0, 50.0, 1.0]  # constant channels get std 1, never 0


def test_mixed_labels_remain_distributions_and_shapes_hold():
    split = random_split()
    for x, y in build(split, 1):
        assert x.shape == (8, 10, 10, 3)
        np.testing.assert_allclose(y.numpy().sum(-1), 1.0, rtol=1e-5)


def test_mixup_and_cutmix_blend_labels_by_their_share():
    images = tf.stack([tf.zeros([8, 8, 3]), tf.ones([8, 8, 3])])
    labels = tf.constant([[1.0, 0.0], [0.0, 1.0]])
    for mix in (mixup, cutmix):
        mixed, soft = mix(images, labels, 1.0, tf.constant([3, 4]))
        ones_share = mixed.numpy().reshape(2, -1).mean(-1)
        np.testing.assert_allclose(soft.numpy()[:, 1], ones_share, atol=1e-5)


def test_cutout_zeroes_a_square_of_the_given_size():
    image = tf.ones([16, 16, 3])
    out = cutout(image, 4, tf.constant([1, 2])).numpy()
    zero_rows = np.flatnonzero((out[..., 0] == 0).any(axis=1))
    assert 1 <= len(zero_rows) <= 4 and (out == 0).sum() <= 4 * 4 * 3


def test_off_switches_leave_images_untouched_apart_from_order():
    split = random_split(count=8)
    off = dataclasses.replace(AugmentConfig(), crop_padding=0, flip=False)
    norm = Normalization.from_images(split.images)
    shuffled = np.concatenate([x.numpy() for x, _ in make_dataset(split, 3, norm, 8, seed=0, augment=off)])
    expected = norm.apply_numpy(split.images)
    assert sorted(map(bytes, shuffled)) == sorted(map(bytes, expected))
