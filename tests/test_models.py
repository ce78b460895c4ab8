import numpy as np
import pytest

from lepton_tf.config import ModelConfig
from lepton_tf.errors import ConfigError
from lepton_tf.keras import keras, tfmot
from lepton_tf.models import build_model, model_names
from lepton_tf.optimize import qat

SMALL = {"resnet": ModelConfig(name="resnet", width=4), "airbench": ModelConfig(name="airbench", width=4),
         "mobilenet_v2": ModelConfig(name="mobilenet_v2", alpha=0.25),
         "average_embedding": ModelConfig(name="average_embedding", embedding_dim=8, width=8),
         "kim_cnn": ModelConfig(name="kim_cnn", embedding_dim=8, width=6),
         "transformer": ModelConfig(name="transformer", embedding_dim=8, width=16, num_heads=2, num_layers=2),
         **{f"efficientnet_lite{i}": ModelConfig(name=f"efficientnet_lite{i}", pretrained="none") for i in range(3)}}


def build_text(name, length=12, vocabulary=30, classes=4):
    return build_model(SMALL[name], "text", sequence_length=length, vocabulary_size=vocabulary, num_classes=classes)


def token_batch(length=12, vocabulary=30):
    return np.random.default_rng(0).integers(0, vocabulary, (2, length)).astype("int32")


@pytest.mark.parametrize("name", model_names("image"))
@pytest.mark.parametrize("shape, classes", [((16, 16, 3), 3), ((40, 24, 3), 7)])
def test_image_models_build_for_any_size_and_class_count(name, shape, classes):
    model = build_model(SMALL[name], "image", input_shape=shape, num_classes=classes)
    probabilities = model(np.random.default_rng(0).normal(size=(2, *shape)).astype("float32")).numpy()
    assert probabilities.shape == (2, classes)
    np.testing.assert_allclose(probabilities.sum(-1), 1.0, rtol=1e-5)
    assert type(model).__name__ == "Functional"  # not subclassed: TF-MOT needs functional models


@pytest.mark.parametrize("name", model_names("image"))
def test_every_image_layer_is_quantizable_by_tfmot_default_scheme(name):
    model = build_model(SMALL[name], "image", input_shape=(16, 16, 3), num_classes=3)
    quantized = tfmot.quantization.keras.quantize_model(model)
    wrapped = {layer.layer.name for layer in quantized.layers
               if isinstance(layer, tfmot.quantization.keras.QuantizeWrapper)}
    convs = {layer.name for layer in model.layers if isinstance(layer, (keras.layers.Conv2D, keras.layers.Dense))}
    assert convs <= wrapped


@pytest.mark.parametrize("name", model_names("text"))
def test_text_models_take_token_ids_and_give_probabilities(name):
    probabilities = build_text(name)(token_batch()).numpy()
    assert probabilities.shape == (2, 4)
    np.testing.assert_allclose(probabilities.sum(-1), 1.0, rtol=1e-5)


@pytest.mark.parametrize("name", model_names("text"))
def test_text_models_quantize_the_layers_tfmot_supports(name):
    keras.utils.set_random_seed(0)
    model = build_text(name)
    quantized = qat.quantize_for_training(model, preserve_sparsity=False)
    qat.calibrate_ranges(quantized, model, token_batch(), batch_size=2)  # as the QAT stage does
    wrapped = set(qat.quantized_layer_names(quantized))
    assert "logits" in wrapped and "embedding" not in wrapped
    assert "embedding" in qat.unquantized_layer_names(quantized)
    if name == "kim_cnn":
        assert {"conv3", "conv4", "conv5"} <= wrapped  # 1-D convolutions as quantizable Conv2D
    if name == "transformer":
        assert {"block0_ff1", "block1_ff2"} <= wrapped
    np.testing.assert_allclose(quantized(token_batch()).numpy(), model(token_batch()).numpy(), atol=0.1)


@pytest.mark.parametrize("name, task", [("vgg", "image"), ("resnet", "text"), ("kim_cnn", "image")])
def test_unknown_or_wrong_task_model_is_a_config_error(name, task):
    with pytest.raises(ConfigError, match=f"model '{name}' is not a {task} model"):
        build_model(ModelConfig(name=name), task, input_shape=(8, 8, 3), num_classes=2,
                    sequence_length=8, vocabulary_size=10)
