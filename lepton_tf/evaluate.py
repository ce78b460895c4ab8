"""Runs exported files themselves: accuracy, agreement with Keras, size, latency.

Every figure in a model card's `artifacts` section comes from loading that
exact file with the LiteRT interpreter (or `tf.saved_model.load`) and running
it on the test split.
"""

import gzip
import time
from pathlib import Path

import numpy as np
from ai_edge_litert.interpreter import Interpreter

from lepton_tf.errors import ModelFileError


class TFLiteClassifier:
    """A `.tflite` classifier that takes model inputs (normalised images or token ids) and returns probabilities.

    Quantized (int8/uint8) inputs and outputs are converted with the file's
    own scale and zero point, so every format is called the same way.
    """

    def __init__(self, model_path, num_threads=2):
        try:
            self.interpreter = Interpreter(model_path=str(model_path), num_threads=num_threads)
            self.interpreter.allocate_tensors()
        except (ValueError, RuntimeError) as error:  # LiteRT's answers to a truncated or foreign file
            raise ModelFileError(f"{model_path} is not a readable TFLite model "
                                 f"({str(error).strip().splitlines()[0][:200]})") from None
        self.input = self.interpreter.get_input_details()[0]
        self.output = self.interpreter.get_output_details()[0]
        self._batch = None

    def _resize(self, batch):
        if batch != self._batch:
            self.interpreter.resize_tensor_input(self.input["index"], [batch, *self.input["shape"][1:]])
            self.interpreter.allocate_tensors()
            self._batch = batch

    def _quantize(self, examples):
        dtype = self.input["dtype"]
        scale, zero_point = self.input["quantization"]
        if scale == 0:  # not quantized: float32 images or int32 token ids
            return examples.astype(dtype)
        info = np.iinfo(dtype)
        return np.clip(np.round(examples / scale + zero_point), info.min, info.max).astype(dtype)

    def _dequantize(self, values):
        if self.output["dtype"] == np.float32:
            return values
        scale, zero_point = self.output["quantization"]
        return (values.astype(np.float32) - zero_point) * scale

    def predict(self, examples, batch_size=256):
        """Returns float32 probabilities [N, classes] for normalised inputs [N, ...]."""
        outputs = []
        for start in range(0, len(examples), batch_size):
            batch = examples[start:start + batch_size]
            self._resize(len(batch))
            self.interpreter.set_tensor(self.input["index"], self._quantize(batch))
            self.interpreter.invoke()
            outputs.append(self._dequantize(self.interpreter.get_tensor(self.output["index"])))
        return np.concatenate(outputs) if outputs else np.zeros((0, self.output["shape"][-1]), np.float32)


def measure_latency(model_path, example, num_threads=1, runs=50, warmup=5):
    """Single-example latency of a `.tflite` file in milliseconds.

    Times `invoke()` alone, after `warmup` untimed calls.

    Returns:
      {"p50": ms, "p90": ms, "runs": runs, "threads": num_threads}
    """
    classifier = TFLiteClassifier(model_path, num_threads=num_threads)
    classifier._resize(1)
    interpreter = classifier.interpreter
    interpreter.set_tensor(classifier.input["index"], classifier._quantize(example[None]))
    timings = []
    for run in range(warmup + runs):
        start = time.perf_counter()
        interpreter.invoke()
        if run >= warmup:
            timings.append((time.perf_counter() - start) * 1000.0)
    return {"p50": round(float(np.percentile(timings, 50)), 4), "p90": round(float(np.percentile(timings, 90)), 4),
            "runs": runs, "threads": num_threads}


def file_sizes(path):
    """Raw and gzip-compressed bytes of a file, or of every file under a folder."""
    path = Path(path)
    files = [path] if path.is_file() else sorted(p for p in path.rglob("*") if p.is_file())
    raw = sum(p.stat().st_size for p in files)
    packed = sum(len(gzip.compress(p.read_bytes(), compresslevel=9)) for p in files)
    return raw, packed


def top1_scores(predicted_probabilities, labels, reference_top1):
    """The card fields of one file's predictions: accuracy, agreement with `reference_top1`, confusion matrix."""
    from lepton_tf.report import confusion_matrix

    top1 = np.argmax(predicted_probabilities, axis=-1)
    return {"accuracy": round(float(np.mean(top1 == labels)), 5),
            "agreement": round(float(np.mean(top1 == reference_top1)), 5),
            "confusion_matrix": confusion_matrix(labels, top1, predicted_probabilities.shape[-1]),
            "examples": int(len(labels))}


def evaluate_tflite(path, examples, labels, reference_top1, latency_runs=50, batch_size=256):
    """Runs a `.tflite` file on a split; returns its model-card entry.

    Args:
      path: the `.tflite` file.
      examples: model inputs [N, ...] (normalised images or token ids).
      labels: int labels [N].
      reference_top1: the source Keras model's top-1 classes [N].
      latency_runs: timed single-example invocations.
      batch_size: batch used for the accuracy pass.
    """
    probabilities = TFLiteClassifier(path).predict(examples, batch_size)
    raw, packed = file_sizes(path)
    one, two = (measure_latency(path, examples[0], num_threads=threads, runs=latency_runs) for threads in (1, 2))
    return {"bytes": raw, "gzip_bytes": packed, **top1_scores(probabilities, labels, reference_top1),
            "latency_ms_p50": one["p50"], "latency_ms_p90": one["p90"], "latency_threads": 1,
            "latency_ms_2_threads": {"p50": two["p50"], "p90": two["p90"]}}


class SavedModelClassifier:
    """A SavedModel's `serving_default`, called on raw inputs (image bytes or sentences)."""

    def __init__(self, path):
        from lepton_tf.keras import tf

        self._tf = tf
        self.signature = tf.saved_model.load(str(path)).signatures["serving_default"]
        (self.argument,) = self.signature.structured_input_signature[1]  # "images" or "texts"

    def predict(self, encoded_inputs, batch_size=256):
        """Returns float32 probabilities [N, classes]."""
        return np.concatenate([
            self.signature(**{self.argument: self._tf.constant(encoded_inputs[start:start + batch_size])})
            ["probabilities"].numpy() for start in range(0, len(encoded_inputs), batch_size)])


def evaluate_saved_model(path, encoded_inputs, labels, reference_top1, batch_size=256):
    """Calls a SavedModel's `serving_default` on raw inputs (image bytes or sentences); returns its card entry."""
    probabilities = SavedModelClassifier(path).predict(encoded_inputs, batch_size)
    raw, packed = file_sizes(path)
    return {"bytes": raw, "gzip_bytes": packed, **top1_scores(probabilities, labels, reference_top1)}
