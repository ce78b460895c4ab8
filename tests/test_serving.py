"""A server that has only TensorFlow: each SavedModel loads in a fresh process and answers raw inputs."""

import json
import os
import subprocess
import sys

import pytest

from conftest import CLASS_COLOURS, TINY_TEXT_SETTINGS, write_image
from lepton_tf import Run

# Runs in a fresh interpreter: TensorFlow alone (no lepton_tf, no Keras 2), as TF Serving would hold it.
SERVE = """
import importlib, json, sys
import tensorflow as tf
path, kind, inputs, extra = sys.argv[1], sys.argv[2], json.loads(sys.argv[3]), sys.argv[4:]
for module in extra:
    importlib.import_module(module)
signature = tf.saved_model.load(path).signatures["serving_default"]
values = [open(p, "rb").read() for p in inputs] if kind == "images" else [s.encode() for s in inputs]
out = signature(**{kind: tf.constant(values)})
imported = sorted(m for m in ("lepton_tf", "tf_keras", "tensorflow_model_optimization") if m in sys.modules)
print(json.dumps({"classes": [c.decode() for c in out["classes"].numpy()],
                  "sums": out["probabilities"].numpy().sum(-1).tolist(), "imported": imported}))
"""


def serve_in_fresh_process(saved_model, kind, inputs, extra_imports=(), expect_success=True):
    """Loads a SavedModel in a new interpreter that imports TensorFlow (and `extra_imports`) only; returns its answer."""
    env = {key: value for key, value in os.environ.items() if key not in ("PYTHONPATH", "TF_USE_LEGACY_KERAS")}
    done = subprocess.run([sys.executable, "-c", SERVE, str(saved_model), kind, json.dumps(inputs), *extra_imports],
                          capture_output=True, text=True, timeout=300, env={**env, "TF_CPP_MIN_LOG_LEVEL": "3"},
                          cwd="/")
    if not expect_success:
        assert done.returncode != 0
        return done.stderr
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_image_saved_model_answers_image_bytes_with_tensorflow_alone(quantized_run, tmp_path):
    images = [str(write_image(tmp_path / f"{name}.png", colour, size=40, seed=3)) for name, colour in
              CLASS_COLOURS.items()]  # 40 px: the signature resizes to the model's 12 px itself
    answer = serve_in_fresh_process(quantized_run / "saved_model" / "1", "images", images)
    assert answer["imported"] == []
    assert answer["classes"] == list(CLASS_COLOURS)
    assert all(abs(total - 1) < 1e-4 for total in answer["sums"])


def test_text_saved_model_answers_sentences_with_tensorflow_alone(quantized_text_run):
    sentences = ["The film is wonderful and charming.", "A dull, tedious story."]
    answer = serve_in_fresh_process(quantized_text_run / "saved_model" / "1", "texts", sentences)
    assert answer["imported"] == []
    assert answer["classes"] == ["positive", "negative"]


@pytest.fixture(scope="module")
def wordpiece_run(tmp_path_factory, text_folder):
    settings = TINY_TEXT_SETTINGS + ["data.text.tokenizer=wordpiece", "data.text.vocabulary_size=200", "train.epochs=3",
                                     "optimize.sparsity=0", "optimize.skip_quantize=true", "export.mediapipe_examples=0"]
    return Run.create(tmp_path_factory.mktemp("wordpiece") / "run", data=text_folder, overrides=settings).train().export()


def test_wordpiece_saved_model_needs_tensorflow_text_and_answers_with_it(wordpiece_run):
    saved_model = wordpiece_run.folder.file(wordpiece_run.card.latest_saved_model())
    sentences = ["The film is wonderful and charming.", "A dull, tedious story."]
    error = serve_in_fresh_process(saved_model, "texts", sentences, expect_success=False)
    assert "Op type not registered" in error or "tensorflow_text" in error  # as README says: import it first
    answer = serve_in_fresh_process(saved_model, "texts", sentences, extra_imports=["tensorflow_text"])
    assert "lepton_tf" not in answer["imported"] and "tensorflow_model_optimization" not in answer["imported"]
    assert len(answer["classes"]) == 2 and all(abs(total - 1) < 1e-4 for total in answer["sums"])
