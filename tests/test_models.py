import numpy as np
import pytest

from lepton_tf.config import ModelConfig
from lepton_tf.errors import ConfigError
from lepton_tf.keras import keras, tfmot
from lepton_tf.models import build_model, model_names

SMALL = {"resnet": ModelConfig(name="resnet", width=4), "mobilenet_v2": ModelConfig(name="mobilenet_v2", alpha=0.25)}


@pytest.mark.parametrize("name", model_names())
@pytest.mark.parametrize("shape, classes", [((16, 16, 3), 3), ((40, 24, 3), 7)])
def test_models_build_for_any_size_and_class_count(name, shape, classes):
    model = build_model(SMALL[name], shape, classes)
    probabilities = model(np.random.default_rng(0).normal(size=(2, *shape)).astype("float32")).numpy()
    assert probabilities.shape == (2, classes)
    np.testing.assert_allclose(probabilities.sum(-1), 1.0, rtol=1e-5)
    assert type(model).__name__ == "Functional"  # not subclassed: TF-MOT needs functional models


@pytest.mark.parametrize("name", model_names())
def test_every_layer_is_quantizable_by_tfmot_default_scheme(name):
    model = build_model(SMALL[name], (16, 16, 3), 3)
    quantized = tfmot.quantization.keras.quantize_model(model)
    wrapped = {layer.layer.name for layer in quantized.layers
               if isinstance(layer, tfmot.quantization.keras.QuantizeWrapper)}
    convs = {layer.name for layer in model.layers if isinstance(layer, (keras.layers.Conv2D, keras.layers.Dense))}
    assert convs <= wrapped


def test_unknown_model_name_is_a_config_error():
    with pytest.raises(ConfigError, match="unknown model 'vgg'"):
        build_model(ModelConfig(name="vgg"), (8, 8, 3), 2)
