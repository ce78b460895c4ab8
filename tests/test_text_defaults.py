"""Text data with no recipe: built-in defaults, and epochs that scale with the data."""

import pytest

from lepton_tf import Run
from lepton_tf import config as config_lib
from lepton_tf.models.choice import TEXT_DEFAULTS, TEXT_MAX_EPOCHS, TEXT_MIN_EPOCHS, TEXT_MIN_STEPS, choose, \
    scale_text_epochs

from conftest import card_json, make_text_folder


def chosen(folder, overrides=()):
    settings = [f"data.source={folder}", *overrides]
    return choose(config_lib.load(None, settings), config_lib.given_keys(None, settings))


def test_a_text_folder_without_a_recipe_gets_the_text_defaults(tmp_path):
    config, choice = chosen(make_text_folder(tmp_path))
    assert config.model.name == "kim_cnn"
    flat = config_lib.flatten(config)
    assert {key: flat[key] for key in TEXT_DEFAULTS} == TEXT_DEFAULTS
    assert choice["text_defaults"] == TEXT_DEFAULTS and choice["epochs_from_data"] is True


def test_settings_the_user_gives_win_over_the_text_defaults(tmp_path):
    config, choice = chosen(make_text_folder(tmp_path), ["model.width=7", "train.epochs=3"])
    assert config.model.width == 7 and config.train.epochs == 3
    assert "model.width" not in choice["text_defaults"] and choice["epochs_from_data"] is False
    assert scale_text_epochs(config, choice, 3000)[0].train.epochs == 3


@pytest.mark.parametrize("examples, epochs", [
    (3000, -(-TEXT_MIN_STEPS // (3000 // 50))),  # a small set trains more epochs...
    (10_000_000, TEXT_MIN_EPOCHS),  # ...a huge one at least the minimum...
    (20, TEXT_MAX_EPOCHS),  # ...a tiny one at most the maximum
])
def test_text_epochs_give_enough_optimizer_steps(tmp_path, examples, epochs):
    config, choice = chosen(make_text_folder(tmp_path))
    scaled, why = scale_text_epochs(config, choice, examples)
    assert scaled.train.epochs == epochs
    assert f"{examples} examples" in why["epochs_from_data"]
    if TEXT_MIN_EPOCHS < epochs < TEXT_MAX_EPOCHS:
        steps = epochs * (examples // config.data.batch_size)
        assert TEXT_MIN_STEPS <= steps < TEXT_MIN_STEPS + examples // config.data.batch_size


def test_a_run_records_the_epochs_it_chose_from_the_data(tmp_path):
    folder = make_text_folder(tmp_path / "data", train=120, test=40)
    # Small model settings keep the test fast; epochs and the schedule stay the defaults' choice.
    Run.create(tmp_path / "run", config=None, overrides=[
        f"data.source={folder}", "model.embedding_dim=8", "model.width=4", "train.verbose=0"]).train()
    card = card_json(tmp_path / "run")
    train_examples = card["data"]["examples"]["train"]
    expected = min(max(-(-TEXT_MIN_STEPS // max(train_examples // 50, 1)), TEXT_MIN_EPOCHS), TEXT_MAX_EPOCHS)
    assert card["stages"]["float"]["epochs"] == expected
    assert card["model"]["choice"]["epochs_from_data"].startswith(f"{expected} (")
    assert config_lib.read_yaml(tmp_path / "run" / "config.yaml")["train"]["epochs"] == expected
