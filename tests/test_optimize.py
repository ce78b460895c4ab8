"""TF-MOT invariants on 32 random samples, in the style of TF-MOT's own tests."""

import numpy as np
import pytest

from lepton_tf.config import ModelConfig
from lepton_tf.evaluate import TFLiteClassifier
from lepton_tf.export.tflite import convert
from lepton_tf.keras import keras, tf
from lepton_tf.models import build_model
from lepton_tf.optimize import prune, qat
from lepton_tf.optimize.fold import fold_batch_norms

RNG = np.random.default_rng(0)
X = RNG.normal(size=(32, 12, 12, 3)).astype("float32")
Y = keras.utils.to_categorical(RNG.integers(0, 3, 32), 3)


def fit(model, epochs, callbacks=()):
    model.compile(keras.optimizers.SGD(0.01), "categorical_crossentropy")
    model.fit(X, Y, batch_size=8, epochs=epochs, verbose=0, callbacks=list(callbacks))
    return model


@pytest.fixture(scope="module")
def pruned_and_stripped():
    model = build_model(ModelConfig(width=4), "image", input_shape=(12, 12, 3), num_classes=3)
    pruned = fit(prune.prune_model(model, 0.6, end_step=8), epochs=3, callbacks=prune.pruning_callbacks())
    return pruned, prune.strip(pruned)


def test_pruning_reaches_the_target_sparsity_in_every_layer(pruned_and_stripped):
    _, stripped = pruned_and_stripped
    overall, per_layer = prune.measure_sparsity(stripped)
    assert overall == pytest.approx(0.6, abs=0.01)
    assert set(per_layer) >= {"stem_conv", "logits"}
    assert all(value == pytest.approx(0.6, abs=0.02) for value in per_layer.values())


def test_stripped_model_computes_what_the_pruned_model_computes(pruned_and_stripped):
    pruned, stripped = pruned_and_stripped
    np.testing.assert_allclose(pruned.predict(X, verbose=0), stripped.predict(X, verbose=0), atol=1e-5)


def test_sparsity_survives_pruning_preserving_qat_into_the_int8_file(pruned_and_stripped, tmp_path):
    _, stripped = pruned_and_stripped
    masks = {name: kernel == 0 for name, kernel in prune.prunable_kernels(stripped)}
    quantized = fit(qat.quantize_for_training(stripped, preserve_sparsity=True), epochs=2)
    for name, kernel in prune.prunable_kernels(quantized):
        assert np.all(kernel[masks[name]] == 0), f"{name} lost zeros during QAT"
    assert "stem_conv" in qat.quantized_layer_names(quantized)
    path = tmp_path / "int8.tflite"
    path.write_bytes(convert(quantized, "int8", X[:16]))
    zeros, total = int8_weight_zeros(path)
    assert zeros / total >= 0.55  # the 60% zeros are still zeros in the deployed weights


def int8_weight_zeros(path):
    """Counts zeros in the int8 constant (weight) tensors of a .tflite file."""
    interpreter = TFLiteClassifier(path).interpreter
    zeros = total = 0
    for detail in interpreter.get_tensor_details():
        if detail["dtype"] != np.int8 or len(detail["shape"]) < 2:
            continue
        try:
            values = interpreter.get_tensor(detail["index"])
        except ValueError:  # activations are not readable before invoke
            continue
        zeros += int(np.count_nonzero(values == 0))
        total += values.size
    return zeros, total


def test_plain_qat_without_pruning_wraps_the_model():
    model = build_model(ModelConfig(width=4), "image", input_shape=(12, 12, 3), num_classes=3)
    quantized = qat.quantize_for_training(model, preserve_sparsity=False)
    assert len(qat.quantized_layer_names(quantized)) > 5
    assert tf.reduce_all(tf.abs(tf.reduce_sum(quantized(X[:2]), -1) - 1) < 1e-4)


def test_calibration_starts_qat_ranges_at_the_observed_activations():
    model = build_model(ModelConfig(name="average_embedding", embedding_dim=8, width=8), "text",
                        sequence_length=10, vocabulary_size=40, num_classes=3)
    ids = RNG.integers(0, 40, (32, 10)).astype("int32")
    quantized = qat.quantize_for_training(model, preserve_sparsity=False)
    pool = quantized.get_layer("quant_pool")
    assert [round(float(w.numpy())) for w in pool.weights if "output_m" in w.name] == [-6, 6]  # TF-MOT's start
    assert qat.calibrate_ranges(quantized, model, ids, batch_size=8) > 0
    observed = keras.Model(model.inputs, model.get_layer("pool").output).predict(ids, verbose=0).reshape(4, 8, -1)
    low, high = [float(w.numpy()) for w in pool.weights if "output_m" in w.name]
    expected_low = np.mean([min(batch.min(), 0) for batch in observed])  # where TF-MOT's average settles
    expected_high = np.mean([max(batch.max(), 0) for batch in observed])
    assert low == pytest.approx(expected_low, abs=1e-6) and high == pytest.approx(expected_high, abs=1e-6)


@pytest.mark.parametrize("config", [ModelConfig(name="resnet", width=4), ModelConfig(name="mobilenet_v2", alpha=0.25),
                                    ModelConfig(name="airbench", width=4)])
def test_folding_batch_norm_keeps_outputs_and_zeros(config):
    model = build_model(config, "image", input_shape=(12, 12, 3), num_classes=3)
    fit(model, epochs=1)  # moving statistics away from their initial values
    pruned = prune.strip(fit(prune.prune_model(model, 0.5, end_step=4), 2, prune.pruning_callbacks()))
    folded, count = fold_batch_norms(pruned)
    assert count == sum(isinstance(layer, keras.layers.BatchNormalization) for layer in pruned.layers)
    assert not any(isinstance(layer, keras.layers.BatchNormalization) for layer in folded.layers)
    np.testing.assert_allclose(folded.predict(X, verbose=0), pruned.predict(X, verbose=0), atol=1e-5)
    assert prune.measure_sparsity(folded)[0] == pytest.approx(prune.measure_sparsity(pruned)[0], abs=1e-6)
    if config.name == "resnet":  # plain ReLUs join their convolution, so TF-MOT quantizes its weights
        quantized = qat.quantize_for_training(folded, preserve_sparsity=True)
        stem = quantized.get_layer("quant_stem_conv")
        assert stem.quantize_config.get_weights_and_quantizers(stem.layer)
