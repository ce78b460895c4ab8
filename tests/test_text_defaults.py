"""Text data with no recipe: built-in defaults, and epochs that scale with the data."""

import numpy as np
import pytest

from lepton_tf import Run
from lepton_tf import config as config_lib
from lepton_tf.models.choice import TEXT_DEFAULTS, TEXT_MAX_EPOCHS, TEXT_MIN_EPOCHS, TEXT_MIN_STEPS, choose, \
    scale_text_epochs

from conftest import TINY_TEXT_SETTINGS, card_json, make_sentences, make_text_folder, write_table


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
    # Small model settings keep the test fast; epochs and the schedule stay the defaults' choice
    # (early stopping off, so that every counted epoch runs).
    Run.create(tmp_path / "run", config=None, overrides=[
        f"data.source={folder}", "model.embedding_dim=8", "model.width=4", "train.early_stop_patience=0",
        "train.verbose=0"]).train()
    card = card_json(tmp_path / "run")
    train_examples = card["data"]["examples"]["train"]
    expected = min(max(-(-TEXT_MIN_STEPS // max(train_examples // 50, 1)), TEXT_MIN_EPOCHS), TEXT_MAX_EPOCHS)
    assert card["stages"]["float"]["epochs"] == expected
    assert card["model"]["choice"]["epochs_from_data"].startswith(f"{expected} (")
    assert config_lib.read_yaml(tmp_path / "run" / "config.yaml")["train"]["epochs"] == expected


def test_early_stopping_keeps_the_epoch_of_lowest_validation_loss(tmp_path):
    from lepton_tf.keras import keras
    from lepton_tf.train import read_history

    # Shuffled labels: the model can only memorise them, so its validation loss rises after an
    # epoch or two. A patience longer than the run never stops it: only the restore is exercised.
    rows = make_sentences(200, seed=1)
    labels = np.random.default_rng(0).permutation([label for label, _ in rows])
    folder = tmp_path / "data"
    write_table(folder / "train.tsv", [(label, text) for label, (_, text) in zip(labels, rows)])
    write_table(folder / "test.tsv", make_sentences(40, seed=2))
    run = Run.create(tmp_path / "run", config=None, overrides=[
        *TINY_TEXT_SETTINGS, f"data.source={folder}", "model.dropout=0", "train.epochs=10",
        "train.learning_rate=0.05", "train.schedule=constant", "train.warmup_epochs=0",
        "train.early_stop_patience=20"])
    run.train()
    history = read_history(tmp_path / "run" / "history.csv")
    best = int(np.argmin(history["val_loss"])) + 1
    float_stage = card_json(tmp_path / "run")["stages"]["float"]
    assert float_stage["epochs"] == 10
    assert best < 10, f"the setting meant to over-fit did not: {history['val_loss']}"
    assert float_stage["kept_epoch"] == best
    assert float_stage["val_accuracy"] == round(history["val_accuracy"][best - 1], 5)
    model = run.model("float")
    model.compile(loss=keras.losses.CategoricalCrossentropy(label_smoothing=run.config.train.label_smoothing))
    val_loss = model.evaluate(run.task.dataset("val", run.config, False), verbose=0)
    assert val_loss == pytest.approx(history["val_loss"][best - 1], rel=1e-3)
