"""A server that has only TensorFlow: each SavedModel loads in a fresh process and answers raw inputs."""

import json
import os
import subprocess
import sys

from conftest import CLASS_COLOURS, write_image

# Runs in a fresh interpreter: TensorFlow alone (no lepton_tf, no Keras 2), as TF Serving would hold it.
SERVE = """
import json, sys
import tensorflow as tf
path, kind, inputs = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])
signature = tf.saved_model.load(path).signatures["serving_default"]
values = [open(p, "rb").read() for p in inputs] if kind == "images" else [s.encode() for s in inputs]
out = signature(**{kind: tf.constant(values)})
imported = sorted(m for m in ("lepton_tf", "tf_keras", "tensorflow_model_optimization") if m in sys.modules)
print(json.dumps({"classes": [c.decode() for c in out["classes"].numpy()],
                  "sums": out["probabilities"].numpy().sum(-1).tolist(), "imported": imported}))
"""


def serve_in_fresh_process(saved_model, kind, inputs):
    env = {key: value for key, value in os.environ.items() if key not in ("PYTHONPATH", "TF_USE_LEGACY_KERAS")}
    done = subprocess.run([sys.executable, "-c", SERVE, str(saved_model), kind, json.dumps(inputs)],
                          capture_output=True, text=True, timeout=300, env={**env, "TF_CPP_MIN_LOG_LEVEL": "3"},
                          cwd="/")
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
