"""Tasks: what differs between image and text classification, behind one `Task` protocol.

A task holds a loaded data set and its preprocessing object
(`lepton_tf.data.preprocessing`) and knows how to build the model, the
`tf.data` pipelines, the numpy inputs of exported files and the SavedModel's
serving module. The stages talk only to this interface.
"""

import typing

from lepton_tf.data.preprocessing import load_preprocessing
from lepton_tf.data.text import TextData
from lepton_tf.tasks.image import ImageTask
from lepton_tf.tasks.text import TextTask


@typing.runtime_checkable
class Task(typing.Protocol):
    """What the stages, the export and `Run` need of a task (ImageTask and TextTask implement it)."""

    name: str  # "image" | "text"
    data: typing.Any  # ImageData | TextData: decoded train/val/test splits and class names
    preprocessing: typing.Any  # ImagePreprocessing | TextPreprocessing

    @property
    def class_names(self) -> list: ...

    def build_model(self, config): """The untrained tf_keras classifier for this data."""

    def dataset(self, split, config, training): """A batched `tf.data.Dataset` of (model input, one-hot label)."""

    def examples(self, split, indices=None): """(numpy model inputs, int labels) of a split or of `indices` in it."""

    def conversion_model(self, model): """The model a TFLite file is converted from (taking raw pixels or ids)."""

    def tflite_inputs(self, split, indices=None): """What every TFLite file takes, for a split."""

    def tflite_input_description(self, fmt): """One line for the card: what the `fmt` file takes."""

    def calibration_inputs(self, indices): """Representative inputs for int8 conversion."""

    def tflite_metadata(self, fmt, name, version, int8_io): """(metadata, files) for MediaPipe, or (None, why not)."""

    def mediapipe_top1(self, path, count): """MediaPipe Tasks' top-1 class names on the first `count` test inputs."""

    def mediapipe_input_description(self): """One line for the card: what MediaPipe was given."""

    def serving_inputs(self, split): """What a server client sends: encoded images or UTF-8 sentences."""

    def perturbed_test_sets(self, seed, count):
        """`robustness.PerturbedTestSets`: (a subset of) the test split perturbed, deterministically for `seed`."""

    def serving_module(self, model): """The `tf.Module` whose `serve` becomes the SavedModel signature."""

    def card_data(self): """Skipped inputs for the card's `data` section."""


def new_task(data, config) -> Task:
    """A task for freshly loaded data: measures normalisation / learns the vocabulary."""
    return (TextTask if isinstance(data, TextData) else ImageTask).fresh(data, config)


def reopen_task(data, card, run_path) -> Task:
    """A task with the preprocessing a run recorded (its card's `input` section, vocab.txt)."""
    task = TextTask if isinstance(data, TextData) else ImageTask
    return task(data, load_preprocessing(card.input, run_path))
