"""The parts of the airbench recipe: patch whitening, per-variable step sizes, lookahead."""

import numpy as np
import pytest

from lepton_tf import train
from lepton_tf.config import ConfigError, load
from lepton_tf.keras import keras
from lepton_tf.models import image
from lepton_tf.models.whitening import has_whitening, init_whitening

RNG = np.random.default_rng(0)


def correlated_images(count=64, size=8):
    images = RNG.normal(size=(count, size, size, 3))
    images[..., 1] += 0.9 * images[..., 0]  # correlated channels
    images[:, :, 1:] += 0.7 * images[:, :, :-1]  # and neighbouring pixels
    return images.astype(np.float32)


def test_whitening_convolution_decorrelates_training_patches():
    model = image.airbench((8, 8, 3), 3, width=4)
    images = correlated_images()
    assert has_whitening(model)
    init_whitening(model, images)
    whitened = keras.Model(model.input, model.get_layer("whiten").output).predict(images, verbose=0)
    positive = whitened.reshape(-1, whitened.shape[-1])[:, :12]  # the second half is its negative
    covariance = positive.T @ positive / len(positive)
    np.testing.assert_allclose(covariance, np.eye(12), atol=0.02)
    np.testing.assert_allclose(whitened[..., 12:], -whitened[..., :12], atol=1e-5)


def _one_step(scales):
    inputs = keras.Input((4,))
    model = keras.Model(inputs, keras.layers.Dense(2, name="a")(keras.layers.Dense(3, name="b")(inputs)))
    before = {v.name: v.numpy().copy() for v in model.trainable_variables}
    optimizer = train.make_optimizer("sgd", 0.1, 0.0, momentum=0.9, learning_rate_scales=scales)
    model.compile(optimizer, loss="mse")
    data = np.random.default_rng(3)
    model.fit(data.normal(size=(8, 4)), data.normal(size=(8, 2)), batch_size=8, epochs=1, verbose=0)
    return {name: model.get_layer(name.split("/")[0]).get_weights()[0 if "kernel" in name else 1] - value
            for name, value in before.items()}, before


def test_scaled_sgd_freezes_zero_scaled_variables_and_scales_the_others():
    keras.utils.set_random_seed(1)
    plain, _ = _one_step({})
    keras.utils.set_random_seed(1)
    scaled, _ = _one_step({"b/kernel": 0.0, "a/kernel": 3.0})
    np.testing.assert_array_equal(scaled["b/kernel:0"], 0.0)
    # The first step sees the same gradient for `a` (`b` has not moved yet).
    np.testing.assert_allclose(scaled["a/kernel:0"], 3.0 * plain["a/kernel:0"], rtol=1e-5)
    np.testing.assert_allclose(scaled["a/bias:0"], plain["a/bias:0"], rtol=1e-5)


def test_norm_offset_scales_name_every_batch_norm_offset():
    model = image.airbench((8, 8, 3), 3, width=4)
    scales = train.norm_offset_scales(model, 64.0)
    norms = [layer for layer in model.layers if isinstance(layer, keras.layers.BatchNormalization)]
    assert len(scales) == len(norms) == 6 and set(scales.values()) == {64.0}
    assert all(name.endswith("/beta") for name in scales)
    assert train.norm_offset_scales(model, 1.0) == {}


def test_lookahead_ends_training_on_the_weight_average():
    inputs = keras.Input((4,))
    model = keras.Model(inputs, keras.layers.Dense(2)(inputs))
    model.compile(keras.optimizers.SGD(0.5), loss="mse")
    lookahead = train.Lookahead(total_steps=10, every=5)
    x, y = RNG.normal(size=(40, 4)), RNG.normal(size=(40, 2))
    model.fit(x, y, batch_size=4, epochs=1, verbose=0, callbacks=[lookahead])
    for average, weight in zip(lookahead.average, model.weights):
        np.testing.assert_array_equal(average.numpy(), weight.numpy())


def test_lookahead_decay_grows_to_the_end_of_training():
    lookahead = train.Lookahead(total_steps=100, every=5, base=0.95)
    seen = []
    lookahead._update = lambda decay: seen.append(float(decay))
    lookahead.model = type("M", (), {"optimizer": type("O", (), {})()})()
    for step in (5, 50, 100):
        lookahead.model.optimizer.iterations = keras.backend.variable(step, dtype="int64")
        lookahead.on_train_batch_end(0)
    assert seen == pytest.approx([0.95 ** 5 * f ** 3 for f in (0.05, 0.5, 1.0)])


@pytest.mark.parametrize("given, expected", [("true", "float16"), ("false", "off"), ("bfloat16", "bfloat16")])
def test_mixed_precision_takes_a_dtype_and_the_older_booleans(given, expected):
    assert load(overrides=[f"train.mixed_precision={given}"]).train.mixed_precision == expected


def test_unknown_mixed_precision_is_refused():
    with pytest.raises(ConfigError, match="train.mixed_precision"):
        load(overrides=["train.mixed_precision=int4"])
