"""AugMix: the paper's operations, as PIL computes them, mixed deterministically from the seed."""

import dataclasses

import numpy as np
import pytest
from PIL import Image, ImageOps

from lepton_tf.config import AugmentConfig, ConfigError, load
from lepton_tf.data import augmix
from lepton_tf.data.augment import augment_example
from lepton_tf.keras import tf

IMAGE = np.random.default_rng(0).integers(0, 256, (16, 20, 3)).astype("float32")
LEVEL = tf.constant(0.3)  # the paper's sampled level 3 (of 10)


def pil(operation, *args):
    return np.asarray(operation(Image.fromarray(IMAGE.astype(np.uint8)), *args)).astype("float32")


@pytest.mark.parametrize("name, expected", [
    ("autocontrast", lambda: pil(ImageOps.autocontrast)),
    ("equalize", lambda: pil(ImageOps.equalize)),
    ("posterize", lambda: pil(ImageOps.posterize, 4 - 1)),  # int_parameter(3, 4) = 1 bit fewer than 4
    ("solarize", lambda: pil(ImageOps.solarize, 256 - 76)),  # int_parameter(3, 256) = 76
])
def test_pixel_operations_match_pil(name, expected):
    np.testing.assert_array_equal(augmix.OPERATIONS[name](tf.constant(IMAGE), LEVEL, 1.0).numpy(), expected())


def test_translation_shifts_whole_pixels_and_fills_black():
    shifted = augmix.translate_x(tf.constant(IMAGE), LEVEL, 1.0).numpy()  # floor(0.3 * 20 / 3) = 2 pixels
    np.testing.assert_allclose(shifted[:, :-2], IMAGE[:, 2:], atol=1e-3)
    assert not shifted[:, -2:].any()
    np.testing.assert_allclose(augmix.rotate(tf.constant(IMAGE), tf.constant(0.0), 1.0).numpy(), IMAGE, atol=1e-3)


def test_augmix_is_deterministic_given_the_seed_and_stays_an_image():
    mix = tf.function(lambda seed: augmix.augmix(tf.constant(IMAGE), 3, seed))
    first, again = mix(tf.constant([4, 2])).numpy(), mix(tf.constant([4, 2])).numpy()
    np.testing.assert_array_equal(first, again)
    draws = [mix(tf.constant([4, seed])).numpy() for seed in range(6)]
    assert len({draw.tobytes() for draw in draws}) == 6
    for draw in draws:
        assert draw.shape == IMAGE.shape and draw.min() >= 0 and draw.max() <= 255


def test_turning_augmix_on_changes_the_image_not_the_other_draws():
    plain = AugmentConfig(crop_padding=2, flip=True, augmix=0)
    seed = tf.constant([3, 9])
    without = augment_example(tf.constant(IMAGE), seed, plain).numpy()
    with_augmix = augment_example(tf.constant(IMAGE), seed, dataclasses.replace(plain, augmix=3)).numpy()
    assert not np.array_equal(without, with_augmix)
    # AugMix starts from the very crop and flip drawn without it.
    expected = augmix.augmix(tf.constant(without), 3, tf.random.experimental.stateless_fold_in(seed, 1)).numpy()
    np.testing.assert_allclose(with_augmix, np.clip(expected, 0, 255), atol=1e-4)


@pytest.mark.parametrize("severity", [-1, 11])
def test_severity_outside_0_to_10_is_refused(severity):
    with pytest.raises(ConfigError, match="data.augment.augmix"):
        load(None, [f"data.augment.augmix={severity}"])
