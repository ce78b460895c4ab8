import pytest

from lepton_tf import config
from lepton_tf.errors import ConfigError


def test_defaults_and_overrides_parse_as_yaml_values():
    cfg = config.load(None, ["train.epochs=30", "data.augment.flip=false", "optimize.sparsity=0.75",
                             "data.source=tfds:mnist"])
    assert cfg.train.epochs == 30
    assert cfg.data.augment.flip is False
    assert cfg.optimize.sparsity == 0.75
    assert cfg.data.source == "tfds:mnist"


def test_int_is_accepted_for_a_float_field():
    assert config.load(None, ["train.learning_rate=1"]).train.learning_rate == 1.0


def test_yaml_file_round_trips(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text(config.dump(config.load(None, ["model.width=24"])))
    assert config.load(path) == config.load(None, ["model.width=24"])


@pytest.mark.parametrize("override, message", [
    ("train.epoch=3", "unknown config key 'train.epoch'"),
    ("train.epochs=three", "'train.epochs' must be int"),
    ("train.epochs=true", "'train.epochs' must be int"),
    ("model.name=vgg", "'model.name' must be one of"),
    ("epochs", "--set expects key=value"),
    ("train=3", "'train' must be a mapping"),
])
def test_bad_overrides_name_the_key(override, message):
    with pytest.raises(ConfigError, match=message):
        config.load(None, [override])


def test_missing_and_invalid_files(tmp_path):
    with pytest.raises(ConfigError, match="config file not found"):
        config.load(tmp_path / "nope.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("train: [unclosed")
    with pytest.raises(ConfigError, match="not valid YAML"):
        config.load(bad)
