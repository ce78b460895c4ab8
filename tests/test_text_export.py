"""Text runs: the output contract, every export against Keras, each text model through TF-MOT."""

import json

import numpy as np
import pytest

from conftest import SHARED_DATA, card_json
from lepton_tf import Run
from lepton_tf.cli import main
from lepton_tf.config import ModelConfig
from lepton_tf.evaluate import TFLiteClassifier
from lepton_tf.export.tflite import FORMATS, convert
from lepton_tf.keras import keras, tf
from lepton_tf.models import build_model, model_names
from lepton_tf.optimize import prune, qat
from lepton_tf.run_folder import RunFolder

TOLERANCE = {"float32": 1e-4, "float16": 2e-2, "dynamic": 5e-2, "int8": 1e-1}


@pytest.fixture(scope="module")
def text_run(quantized_text_run):
    return RunFolder(quantized_text_run), Run.open(quantized_text_run).task


def test_text_run_folder_and_model_card(text_run):
    run, task = text_run
    card = json.loads(run.file("model_card.json").read_text())
    assert card["task"] == "text" and card["labels"] == ["negative", "positive"] and card["status"] == "done"
    assert card["input"]["shape"] == [12] and card["input"]["dtype"] == "int32"
    assert card["input"]["tokenizer"]["kind"] == "regex" and run.file("vocab.txt").is_file()
    assert card["stages"]["pruned"]["layer_sparsity"]["embedding"] == pytest.approx(0.5, abs=0.01)
    assert card["stages"]["qat"]["sparsity"] == pytest.approx(0.5, abs=0.01)  # PQAT + frozen embedding
    assert "embedding" in card["stages"]["qat"]["float_layers"] and "conv3" in card["stages"]["qat"]["quantized_layers"]
    for fmt in FORMATS:
        assert {"bytes", "gzip_bytes", "accuracy", "agreement", "latency_ms_p50"} <= set(card["artifacts"][f"tflite/{fmt}.tflite"])


@pytest.mark.parametrize("fmt", FORMATS)
def test_each_text_tflite_file_takes_token_ids_and_matches_keras(text_run, fmt):
    run, task = text_run
    ids, _ = task.examples("test")
    source = card_json(run.path)["artifacts"][f"tflite/{fmt}.tflite"]["source"]
    classifier = TFLiteClassifier(run.file(f"tflite/{fmt}.tflite"))
    assert classifier.input["dtype"] == np.int32 and list(classifier.input["shape"]) == [1, 12]
    np.testing.assert_allclose(classifier.predict(ids), run.load_model(source).predict(ids, verbose=0),
                               atol=TOLERANCE[fmt])


def test_saved_model_takes_sentences_and_tokenises_inside(text_run):
    run, task = text_run
    serve = tf.saved_model.load(str(run.file("saved_model/1"))).signatures["serving_default"]
    outputs = serve(texts=tf.constant(task.data.test.texts))
    expected = run.load_model("float").predict(task.examples("test")[0], verbose=0)
    np.testing.assert_allclose(outputs["probabilities"].numpy(), expected, atol=1e-5)
    assert [c.decode() for c in outputs["classes"].numpy()] == [task.class_names[i] for i in expected.argmax(-1)]


def test_every_text_file_reports_its_accuracy_on_perturbed_sentences(text_run):
    from lepton_tf.robustness.text_perturbations import PERTURBATIONS

    run, task = text_run
    card = card_json(run.path)
    for path, entry in card["artifacts"].items():
        robustness = entry["robustness"]
        accuracies = robustness["perturbations"]
        assert list(accuracies) == list(PERTURBATIONS), path
        assert all(0.0 <= value <= 1.0 for value in accuracies.values())
        assert robustness["mean_accuracy"] == pytest.approx(np.mean(list(accuracies.values())), abs=1e-5)
        assert robustness["clean_accuracy"] == entry["accuracy"], path  # every test sentence is in the sets
        assert robustness["relative"] == pytest.approx(robustness["mean_accuracy"] / entry["accuracy"], abs=1e-4)
        # The tokenizer lower-cases, so changing case changes no id: every file scores as on clean sentences.
        assert accuracies["case"] == entry["accuracy"], path
    int8 = card["artifacts"]["tflite/int8.tflite"]["robustness"]
    ids = task.perturbed_test_sets(int8["seed"], -1).makers["typos_8pct"]().tflite
    predicted = TFLiteClassifier(run.file("tflite/int8.tflite")).predict(ids).argmax(-1)
    assert int8["perturbations"]["typos_8pct"] == round(float(np.mean(predicted == task.examples("test")[1])), 5)
    assert "### Robustness (test split, perturbed)" in run.file("MODEL_CARD.md").read_text()
    report = json.loads(run.file("robustness.json").read_text())
    assert report["files"]["tflite/int8.tflite"]["perturbations"] == int8["perturbations"]
    assert run.file("robustness.png").stat().st_size > 0


def test_predict_classifies_sentences(quantized_text_run, capsys):
    assert main(["predict", str(quantized_text_run / "tflite" / "int8.tflite"), "A wonderful, charming film."]) == 0
    assert capsys.readouterr().out.startswith("A wonderful, charming film.: positive")


@pytest.mark.parametrize("name", model_names("text"))
def test_each_text_model_prunes_quantizes_and_converts(name, tmp_path):
    config = ModelConfig(name=name, embedding_dim=8, width=8, num_heads=2, num_layers=1)
    model = build_model(config, "text", sequence_length=10, vocabulary_size=40, num_classes=3)
    rng = np.random.default_rng(0)
    ids = rng.integers(0, 40, (32, 10)).astype("int32")
    labels = keras.utils.to_categorical(rng.integers(0, 3, 32), 3)
    pruned = prune.prune_model(model, 0.5, end_step=4)
    pruned.compile(keras.optimizers.Adam(1e-3), "categorical_crossentropy")
    pruned.fit(ids, labels, batch_size=8, epochs=2, verbose=0, callbacks=prune.pruning_callbacks())
    stripped = prune.strip(pruned)
    assert prune.measure_sparsity(stripped)[1]["embedding"] == pytest.approx(0.5, abs=0.02)
    quantized = qat.quantize_for_training(stripped, preserve_sparsity=True)
    qat.calibrate_ranges(quantized, stripped, ids, batch_size=8)
    quantized.compile(keras.optimizers.Adam(1e-3), "categorical_crossentropy")
    quantized.fit(ids, labels, batch_size=8, epochs=1, verbose=0)
    assert prune.measure_sparsity(quantized)[0] == pytest.approx(0.5, abs=0.02)
    (tmp_path / "int8.tflite").write_bytes(convert(quantized, "int8", ids))
    int8 = TFLiteClassifier(tmp_path / "int8.tflite")
    # An untrained model's probabilities are near ties, so compare values, not argmax.
    np.testing.assert_allclose(int8.predict(ids), quantized.predict(ids, verbose=0), atol=0.1)


@pytest.mark.skipif(not (SHARED_DATA / "sst2").is_dir(), reason="../shared/data/sst2 is not present")
def test_real_sst2_trains_well_above_chance_in_seconds(tmp_path):
    run_dir = tmp_path / "sst2"
    sets = ["model.name=average_embedding", "model.embedding_dim=16", "model.width=16", "train.epochs=3",
            "train.optimizer=adamw", "train.learning_rate=0.005", "data.batch_size=64", "train.verbose=0",
            "data.text.sequence_length=32"]
    assert main(["train", str(run_dir), "--set", f"data.source={SHARED_DATA / 'sst2'}",
                 *[arg for s in sets for arg in ("--set", s)]]) == 0
    card = json.loads((run_dir / "model_card.json").read_text())
    assert card["data"]["examples"] == {"train": 6920, "val": 872, "test": 1821}
    print("SST-2 average-embedding test accuracy:", card["stages"]["float"]["accuracy"])
    assert card["stages"]["float"]["accuracy"] > 0.65  # chance is 0.5
