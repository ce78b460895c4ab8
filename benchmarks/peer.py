"""The recipe a user would follow instead: the official TensorFlow tutorials, at our training time.

Images: the "Convolutional Neural Network" tutorial's model (3 Conv2D + 2
Dense, Adam, batch 32, pixels / 255) with the "Data augmentation" tutorial's
`RandomFlip` + `RandomTranslation` applied in `tf.data`. Text: the "Basic text
classification" tutorial (`TextVectorization` → Embedding(16) → average →
Dense). Then the TF-MOT "Quantization aware training" tutorial:
`quantize_model`, one epoch, `TFLiteConverter` with `Optimize.DEFAULT`.
Training stops when it has used the same wall-clock time as our float model.
"""

import logging
import tempfile
import time
from pathlib import Path

import numpy as np

from lepton_tf.evaluate import evaluate_tflite
from lepton_tf.keras import keras, tf, tfmot

log = logging.getLogger(__name__)
layers = keras.layers
BATCH_SIZE = 32  # Keras' default, which the tutorials keep


class TimeBudget(keras.callbacks.Callback):
    """Stops `fit` after the step that crosses `seconds` of wall time."""

    def __init__(self, seconds):
        super().__init__()
        self.seconds = seconds
        self.start = None
        self.steps = 0

    def on_train_begin(self, logs=None):
        self.start = time.perf_counter()

    def on_train_batch_end(self, batch, logs=None):
        self.steps += 1
        if time.perf_counter() - self.start >= self.seconds:
            self.model.stop_training = True


def tutorial_cnn(input_shape, num_classes):
    """The CNN tutorial's model, logits out."""
    return keras.Sequential([
        keras.Input(input_shape),
        layers.Conv2D(32, 3, activation="relu"), layers.MaxPooling2D(2),
        layers.Conv2D(64, 3, activation="relu"), layers.MaxPooling2D(2),
        layers.Conv2D(64, 3, activation="relu"),
        layers.Flatten(), layers.Dense(64, activation="relu"), layers.Dense(num_classes)])


def tutorial_text_model(vocabulary_size, sequence_length, num_classes):
    """The basic text classification tutorial's model (Dense(num_classes) for more than two)."""
    return keras.Sequential([
        keras.Input((sequence_length,), dtype="int64"),
        layers.Embedding(vocabulary_size, 16), layers.Dropout(0.2),
        layers.GlobalAveragePooling1D(), layers.Dropout(0.2), layers.Dense(num_classes)])


def image_inputs(data):
    """Train/test inputs as the CNN tutorial prepares them: float pixels / 255."""
    return ({split: getattr(data, split).images.astype(np.float32) / 255.0 for split in ("train", "test")},
            {split: getattr(data, split).labels for split in ("train", "test")})


def text_inputs(data, vocabulary_size=10000, sequence_length=250):
    """Train/test token ids from a `TextVectorization` adapted on train, as the text tutorial does."""
    vectorize = layers.TextVectorization(max_tokens=vocabulary_size, output_sequence_length=sequence_length)
    vectorize.adapt(tf.constant(data.train.texts))
    inputs = {split: vectorize(tf.constant(getattr(data, split).texts)).numpy() for split in ("train", "test")}
    return inputs, {split: getattr(data, split).labels for split in ("train", "test")}, vectorize.vocabulary_size()


def _train_dataset(inputs, labels, augment, seed):
    dataset = tf.data.Dataset.from_tensor_slices((inputs, labels)).shuffle(len(labels), seed=seed)
    dataset = dataset.batch(BATCH_SIZE)
    if augment is not None:
        dataset = dataset.map(lambda x, y: (augment(x, training=True), y), num_parallel_calls=tf.data.AUTOTUNE)
    return dataset.prefetch(tf.data.AUTOTUNE)


def _compile(model):
    model.compile(optimizer="adam", loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                  metrics=["accuracy"])


def _accuracy(model, inputs, labels):
    return float(np.mean(np.argmax(model.predict(inputs, batch_size=256, verbose=0), -1) == labels))


def run_peer(model, inputs, labels, seconds, augment=None, seed=0, latency_runs=100):
    """Trains the tutorial model for `seconds`, QATs it one epoch, converts, and measures the file.

    Returns:
      The figures: float accuracy, training time and epochs, the QAT outcome
      (or why `quantize_model` refused the model), and the int8 file's
      accuracy, agreement with its Keras model, bytes, gzip bytes and latency.
    """
    keras.utils.set_random_seed(seed)
    dataset = _train_dataset(inputs["train"], labels["train"], augment, seed)
    steps_per_epoch = -(-len(labels["train"]) // BATCH_SIZE)
    _compile(model)
    budget = TimeBudget(seconds)
    start = time.perf_counter()
    model.fit(dataset, epochs=10 ** 6, verbose=0, callbacks=[budget])
    float_seconds = time.perf_counter() - start
    figures = {"float": {"accuracy": _accuracy(model, inputs["test"], labels["test"]),
                         "train_seconds": float_seconds, "epochs": budget.steps / steps_per_epoch,
                         "params": model.count_params()}}
    deployed, qat = _quantization_aware_train(model, dataset)
    figures["qat"] = qat
    figures["int8"] = _measure_file(_convert(deployed), deployed, inputs["test"], labels["test"], latency_runs)
    return figures


def _quantization_aware_train(model, dataset):
    """The QAT tutorial: `quantize_model`, compile, one epoch. Falls back to the float model when refused."""
    try:
        quantized = tfmot.quantization.keras.quantize_model(model)
    except (RuntimeError, TypeError, ValueError) as error:  # e.g. integer (token id) inputs
        reason = next((line.strip() for line in str(error).splitlines() if "Error" in line or "not" in line),
                      str(error).strip().splitlines()[0])
        log.info("tutorial recipe: quantize_model failed (%s); converting the float model", reason)
        return model, {"applied": False, "error": reason}
    _compile(quantized)
    start = time.perf_counter()
    quantized.fit(dataset, epochs=1, verbose=0)
    return quantized, {"applied": True, "epochs": 1, "train_seconds": time.perf_counter() - start}


def _convert(model):
    converter = tf.lite.TFLiteConverter.from_keras_model(model)
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    return converter.convert()


def _measure_file(content, keras_model, inputs, labels, latency_runs):
    """The same measurements as our files get (`evaluate_tflite`): accuracy, agreement, bytes, latency."""
    keras_top1 = np.argmax(keras_model.predict(inputs, batch_size=256, verbose=0), -1)
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "peer_int8.tflite"
        path.write_bytes(content)
        return evaluate_tflite(path, inputs, labels, keras_top1, latency_runs)


def image_augmentation(seed):
    """The data augmentation tutorial's layers: horizontal flip and ±10% translation."""
    return keras.Sequential([layers.RandomFlip("horizontal", seed=seed),
                             layers.RandomTranslation(0.1, 0.1, seed=seed)])
