"""Mobile-ready files: TFLite metadata read back, and the real MediaPipe Tasks client on every format."""

import json

import numpy as np
import pytest

from conftest import TINY_TEXT_SETTINGS, card_json
from lepton_tf import Run
from lepton_tf.cli import main
from lepton_tf.data.tokenizers import DELIMITER_PATTERN
from lepton_tf.export import metadata
from lepton_tf.export.mediapipe_client import image_top1, text_top1
from lepton_tf.export.tflite import FORMATS
from lepton_tf.run_folder import RunFolder

NORMALIZATION, REGEX_TOKENIZER = 1, 6  # metadata_schema ProcessUnitOptions
FLOAT32, UINT8 = 0, 3  # schema TensorType


def opened(run_dir):
    return RunFolder(run_dir), Run.open(run_dir).task


def keras_names(run, task, source):
    ids = run.load_model(source).predict(task.examples("test")[0], verbose=0).argmax(-1)
    return [task.class_names[i] for i in ids]


def input_metadata(content):
    return metadata.read(content)["metadata"]["subgraphMetadata"][0]["inputTensorMetadata"][0]


@pytest.mark.parametrize("fmt", FORMATS)
def test_image_files_carry_labels_and_pixel_metadata(quantized_run, fmt):
    run = RunFolder(quantized_run)
    content = run.file(f"tflite/{fmt}.tflite").read_bytes()
    described = metadata.read(content)
    assert "labels.txt" in described["associated_files"]
    assert json.loads(run.file(f"tflite/{fmt}.metadata.json").read_text()) == described
    image = input_metadata(content)
    assert image["content"]["contentProperties"]["colorSpace"] == 1  # RGB
    if fmt == "int8":
        assert "processUnits" not in image and image["stats"]["max"] == [255.0]  # raw uint8 pixels
    else:
        options = image["processUnits"][0]
        assert options["optionsType"] == NORMALIZATION and options["options"] == {"mean": [0.0], "std": [1.0]}


@pytest.mark.parametrize("fmt", FORMATS)
def test_mediapipe_image_classifier_agrees_with_keras(quantized_run, fmt):
    run, task = opened(quantized_run)
    entry = card_json(run.path)["artifacts"][f"tflite/{fmt}.tflite"]
    names = image_top1(run.file(f"tflite/{fmt}.tflite"), task.data.test.images)
    expected = keras_names(run, task, entry["source"])
    agreement = np.mean([a == b for a, b in zip(names, expected)])
    assert agreement >= 0.99
    assert entry["mediapipe_keras_agreement"] == pytest.approx(agreement, abs=1e-4)
    assert entry["mediapipe_agreement"] >= 0.99  # against the file itself, run by LiteRT
    assert entry["mediapipe_input"] == "the original test files"  # the PNGs, here already at the model's size


@pytest.mark.parametrize("fmt", FORMATS)
def test_text_files_carry_the_regex_tokenizer_and_mediapipe_agrees(quantized_text_run, fmt):
    run, task = opened(quantized_text_run)
    path = run.file(f"tflite/{fmt}.tflite")
    described = metadata.read(path.read_bytes())
    assert described["metadata"]["minParserVersion"] == "1.2.1"
    assert sorted(described["associated_files"]) == ["labels.txt", "vocab.txt"]
    tokenizer = input_metadata(path.read_bytes())["processUnits"][0]
    assert tokenizer["optionsType"] == REGEX_TOKENIZER
    assert tokenizer["options"]["delimRegexPattern"] == DELIMITER_PATTERN
    names = text_top1(path, task.data.test.texts)
    expected = keras_names(run, task, card_json(run.path)["artifacts"][f"tflite/{fmt}.tflite"]["source"])
    assert np.mean([a == b for a, b in zip(names, expected)]) >= 0.99


def test_the_phone_vocabulary_maps_common_casings_to_training_ids(quantized_text_run):
    _, task = opened(quantized_text_run)
    lines = [line.rsplit(" ", 1) for line in task.mobile_vocabulary().splitlines()]
    ids = {token: int(index) for token, index in lines}
    word = task.tokenizer.vocabulary[5]
    assert ids[word] == ids[word.capitalize()] == ids[word.upper()] == 5
    assert ids["<PAD>"] == 0 and ids["<START>"] == 1 and ids["<UNKNOWN>"] == 2


def test_wordpiece_runs_are_reported_server_only(tmp_path, text_folder):
    run_dir = tmp_path / "wordpiece"
    settings = TINY_TEXT_SETTINGS + ["data.text.tokenizer=wordpiece", "data.text.vocabulary_size=200", "train.epochs=1"]
    assert main(["train", str(run_dir), "--set", f"data.source={text_folder}",
                 *[arg for s in settings for arg in ("--set", s)]]) == 0
    assert main(["export", str(run_dir)]) == 0
    card = json.loads((run_dir / "model_card.json").read_text())
    for fmt in FORMATS:
        entry = card["artifacts"][f"tflite/{fmt}.tflite"]
        assert entry["metadata"] is False and entry["mediapipe"].startswith("not supported: WordPiece")
        assert "mediapipe_agreement" not in entry
        assert metadata.read((run_dir / "tflite" / f"{fmt}.tflite").read_bytes()) is None
