"""The output contract of `lepton quantize`, checked on one tiny shared run."""

import json

import numpy as np
import pytest

from lepton_tf.data.pipeline import Normalization
from lepton_tf.data.sources import load_data
from lepton_tf.evaluate import TFLiteClassifier
from lepton_tf.fileio import atomic_dir, write_text
from lepton_tf.keras import tf
from lepton_tf.run_folder import RunFolder
from conftest import card_json

TFLITE = ["float32", "float16", "dynamic", "int8"]
# How close each format's probabilities must stay to its Keras model's.
TOLERANCE = {"float32": 1e-4, "float16": 2e-2, "dynamic": 5e-2, "int8": 1e-1}


@pytest.fixture(scope="module")
def run(quantized_run):
    return RunFolder(quantized_run)


@pytest.fixture(scope="module")
def test_split(run):
    config = run.read_config()
    data = load_data(config.data, run.path)
    card = card_json(run.path)
    norm = Normalization(card["input"]["normalization"]["mean"], card["input"]["normalization"]["std"])
    return data, norm.apply_numpy(data.test.images)


@pytest.fixture(scope="module")
def test_pixels(test_split):
    """What every image TFLite file takes: RGB pixels 0-255."""
    return test_split[0].test.images.astype(np.float32)


def test_run_folder_holds_every_promised_file(run):
    for relative in ["config.yaml", "labels.txt", "history.csv", "curves.png", "model_card.json",
                     "saved_model/1/saved_model.pb", *[f"tflite/{f}.tflite" for f in TFLITE]]:
        assert run.file(relative).is_file(), relative
    assert run.read_labels() == ["blue", "green", "red"]
    assert not list(run.path.rglob("*.tmp*")), "temporary files left behind"


def test_model_card_has_the_contract_fields(run):
    card = json.loads(run.file("model_card.json").read_text())
    assert card["task"] == "image" and card["labels"] == ["blue", "green", "red"] and card["status"] == "done"
    assert card["input"]["shape"] == [12, 12, 3] and card["input"]["dtype"] == "float32"
    assert len(card["input"]["normalization"]["mean"]) == 3 and len(card["input"]["normalization"]["std"]) == 3
    for stage in ("float", "pruned", "qat"):
        assert 0.0 <= card["stages"][stage]["accuracy"] <= 1.0
    assert card["stages"]["pruned"]["sparsity"] == pytest.approx(0.5, abs=0.01)
    assert card["stages"]["qat"]["sparsity"] >= card["stages"]["pruned"]["sparsity"] - 1e-6
    for fmt in TFLITE:
        entry = card["artifacts"][f"tflite/{fmt}.tflite"]
        assert entry["bytes"] == run.file(f"tflite/{fmt}.tflite").stat().st_size
        assert 0 < entry["gzip_bytes"] and entry["latency_ms_p50"] > 0
        assert {"format", "accuracy", "agreement", "source"} <= set(entry)
    assert card["artifacts"]["tflite/int8.tflite"]["source"] == "qat"


@pytest.mark.parametrize("fmt", TFLITE)
def test_each_tflite_file_takes_pixels_and_matches_its_keras_model(run, test_split, test_pixels, fmt):
    data, examples = test_split
    source = card_json(run.path)["artifacts"][f"tflite/{fmt}.tflite"]["source"]
    expected = run.load_model(source).predict(examples, verbose=0)
    got = TFLiteClassifier(run.file(f"tflite/{fmt}.tflite")).predict(test_pixels)
    np.testing.assert_allclose(got, expected, atol=TOLERANCE[fmt])
    card_entry = card_json(run.path)["artifacts"][f"tflite/{fmt}.tflite"]
    assert card_entry["accuracy"] == pytest.approx(np.mean(got.argmax(-1) == data.test.labels), abs=1e-4)


def test_int8_file_is_full_integer_and_takes_raw_uint8_pixels(run):
    classifier = TFLiteClassifier(run.file("tflite/int8.tflite"))
    assert classifier.input["dtype"] == np.uint8 and classifier.output["dtype"] == np.uint8
    assert classifier.input["quantization"] == (1.0, 0)  # a uint8 pixel is its own value
    float_ops = [d for d in classifier.interpreter.get_tensor_details() if d["dtype"] == np.float32]
    assert not float_ops


def test_saved_model_signature_takes_image_bytes_and_returns_names(run, test_split):
    data, examples = test_split
    serve = tf.saved_model.load(str(run.file("saved_model/1"))).signatures["serving_default"]
    encoded = [tf.io.encode_png(image).numpy() for image in data.test.images]
    outputs = serve(images=tf.constant(encoded))
    expected = run.load_model("float").predict(examples, verbose=0)
    np.testing.assert_allclose(outputs["probabilities"].numpy(), expected, atol=1e-5)
    names = [name.decode() for name in outputs["classes"].numpy()]
    assert names == [run.read_labels()[i] for i in expected.argmax(-1)]


def test_saved_model_resizes_larger_images_exactly_like_the_loader(run, test_split, tmp_path):
    from conftest import CLASS_COLOURS, write_image
    from lepton_tf.data.images import decode_file, resize_uint8

    path = write_image(tmp_path / "big.png", CLASS_COLOURS["green"], size=30)
    serve = tf.saved_model.load(str(run.file("saved_model/1"))).signatures["serving_default"]
    got = serve(images=tf.constant([path.read_bytes()]))["probabilities"].numpy()
    card = card_json(run.path)["input"]["normalization"]
    pixels = resize_uint8(decode_file(path), 12)[None]
    expected = run.load_model("float").predict(Normalization(card["mean"], card["std"]).apply_numpy(pixels), verbose=0)
    np.testing.assert_allclose(got, expected, atol=1e-5)


def test_every_image_file_reports_its_accuracy_on_corrupted_images(run, test_split):
    from lepton_tf.robustness.image_corruptions import CORRUPTIONS, SEVERITIES, corrupt_images

    data, _ = test_split
    card = card_json(run.path)
    for path, entry in card["artifacts"].items():
        robustness = entry["robustness"]
        accuracies = robustness["perturbations"]
        assert list(accuracies) == [f"{name}/{severity}" for name in CORRUPTIONS for severity in SEVERITIES], path
        assert robustness["examples"] == len(data.test.labels) and "CIFAR-10-C" in robustness["set"]
        assert robustness["clean_accuracy"] == entry["accuracy"], path  # fewer than 500 images: all of them
        assert robustness["mean_accuracy"] == pytest.approx(np.mean(list(accuracies.values())), abs=1e-5)
    int8 = card["artifacts"]["tflite/int8.tflite"]["robustness"]
    fogged = corrupt_images(data.test.images, "fog", 3, int8["seed"]).astype(np.float32)
    predicted = TFLiteClassifier(run.file("tflite/int8.tflite")).predict(fogged).argmax(-1)
    assert int8["perturbations"]["fog/3"] == round(float(np.mean(predicted == data.test.labels)), 5)
    report = json.loads(run.file("robustness.json").read_text())
    assert report["files"]["tflite/int8.tflite"]["per_severity"] and run.file("robustness.png").stat().st_size > 0
    assert "CIFAR-10-C" in run.file("MODEL_CARD.md").read_text()


def test_interrupted_writes_leave_the_old_output_whole(tmp_path):
    target = tmp_path / "labels.txt"
    write_text(target, "old\n")
    with pytest.raises(RuntimeError):
        with atomic_dir(tmp_path / "saved_model") as folder:
            (folder / "half.pb").write_bytes(b"partial")
            raise RuntimeError("killed mid-export")
    assert not (tmp_path / "saved_model").exists()
    assert target.read_text() == "old\n" and sorted(p.name for p in tmp_path.iterdir()) == ["labels.txt"]
