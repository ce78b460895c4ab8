"""`lepton predict MODEL INPUT…`: top-k classes for image files or sentences.

MODEL is a run folder (its newest SavedModel, else its float Keras model), a
SavedModel folder, or a `.tflite` file inside a run folder. Labels and the
preprocessing object come from the run's model card (and vocab.txt), so each
kind of file gets its inputs exactly as it was exported to take them. For
image models each INPUT is an image file; for text models a sentence.
"""

import logging
from pathlib import Path

import numpy as np

from lepton_tf.card import saved_model_path
from lepton_tf.data.preprocessing import load_preprocessing
from lepton_tf.errors import DataError, ModelFileError, RunFolderError
from lepton_tf.run_folder import RunFolder

log = logging.getLogger(__name__)


def load_predictor(model_path):
    """Returns (classify, labels, preprocessing) where classify(list of raw inputs) → probabilities [N, C].

    Raises:
      RunFolderError: MODEL is none of the supported kinds, or no model card is found for it.
    """
    path = Path(model_path)
    if path.is_dir() and newest_saved_model(path):
        path = newest_saved_model(path)
    run_dir = _run_dir_of(path)
    card = RunFolder(run_dir).read_card() if run_dir else None
    if card is None:
        raise RunFolderError(f"no model_card.json found for {path}: labels and preprocessing are unknown")
    preprocessing = load_preprocessing(card.input, run_dir)
    if path.is_dir() and (path / "saved_model.pb").is_file():
        return _saved_model_predictor(path, preprocessing.kind), card.labels, preprocessing
    if path.is_dir() and RunFolder(path).model_path("float").is_file():
        model = RunFolder(path).load_model("float")
        return (lambda inputs: model.predict(preprocessing.model_inputs(inputs), verbose=0)), card.labels, preprocessing
    if path.is_file() and path.suffix == ".tflite":
        from lepton_tf.evaluate import TFLiteClassifier

        classifier = TFLiteClassifier(path)
        return (lambda inputs: classifier.predict(preprocessing.file_inputs(inputs))), card.labels, preprocessing
    raise RunFolderError(f"{model_path} is not a run folder, a SavedModel folder or a .tflite file")


def newest_saved_model(run_dir):
    """`run_dir/saved_model/N` with the highest N (what TF Serving serves), or None."""
    versions = RunFolder(run_dir).saved_model_versions()
    return Path(run_dir) / saved_model_path(versions[-1]) if versions else None


def _saved_model_predictor(path, kind):
    from lepton_tf.keras import tf

    try:
        signature = tf.saved_model.load(str(path)).signatures["serving_default"]
    except (OSError, ValueError, KeyError, RuntimeError, tf.errors.OpError) as error:
        raise ModelFileError(f"{path} is not a readable SavedModel with a serving_default signature "
                             f"({str(error).strip().splitlines()[0][:200]})") from None
    if kind == "text":
        return lambda inputs: signature(texts=tf.constant(inputs))["probabilities"].numpy()
    return lambda inputs: signature(images=tf.constant([Path(f).read_bytes() for f in inputs]))["probabilities"].numpy()


def _run_dir_of(path):
    """The run folder a model path lies in (itself, or up to three levels up), or None."""
    path = Path(path).resolve()
    for folder in [path, *list(path.parents)[:3]]:
        if (folder / "model_card.json").is_file():
            return folder
    return None


def top_k_pairs(probabilities, labels, top_k):
    """[(class name, probability), …] best first, for each row of `probabilities`."""
    return [[(labels[i], float(row[i])) for i in np.argsort(row)[::-1][:top_k]] for row in probabilities]


def predict(model_path, inputs, top_k=3):
    """Classifies each input; returns (lines to print, number of inputs that failed)."""
    classify, labels, preprocessing = load_predictor(model_path)
    lines, failed = [], 0
    for item in inputs:
        if preprocessing.kind == "image":
            try:
                preprocessing.pixels([item])  # a clear message for unreadable files, whatever the model kind
            except DataError as error:
                log.error("%s", error)
                failed += 1
                continue
        (pairs,) = top_k_pairs(classify([item]), labels, top_k)
        lines.append(f"{item}: " + ", ".join(f"{name} {probability:.3f}" for name, probability in pairs))
    return lines, failed
