"""`lepton predict MODEL FILES…`: top-k classes for image files with any export.

MODEL is a run folder (its SavedModel, else its float Keras model), a
SavedModel folder, or a `.tflite` file inside a run folder (labels and
normalisation come from the run's model card).
"""

import logging
from pathlib import Path

import numpy as np

from lepton_tf.data.images import decode_file, resize_uint8
from lepton_tf.data.pipeline import Normalization
from lepton_tf.errors import RunFolderError
from lepton_tf.run_folder import RunFolder

log = logging.getLogger(__name__)


def load_predictor(model_path):
    """Returns (classify, class names) where classify(list of file paths) → probabilities [N, C].

    Raises:
      RunFolderError: MODEL is none of the supported kinds, or its run folder lacks a model card.
    """
    path = Path(model_path)
    if path.is_dir() and (path / "saved_model.pb").is_file():
        return _saved_model_predictor(path)
    if path.is_dir() and (path / "saved_model" / "1" / "saved_model.pb").is_file():
        return _saved_model_predictor(path / "saved_model" / "1")
    if path.is_dir() and RunFolder(path).model_path("float").is_file():
        return _keras_predictor(RunFolder(path))
    if path.is_file() and path.suffix == ".tflite":
        return _tflite_predictor(path)
    raise RunFolderError(f"{path} is not a run folder, a SavedModel folder or a .tflite file")


def _saved_model_predictor(path):
    from lepton_tf.keras import tf

    serve = tf.saved_model.load(str(path)).signatures["serving_default"]

    def classify(files):
        return serve(images=tf.constant([Path(f).read_bytes() for f in files]))["probabilities"].numpy()

    card = _find_card(path)
    return classify, (card["labels"] if card else None)


def _preprocessor(card):
    normalization = Normalization(card["input"]["normalization"]["mean"], card["input"]["normalization"]["std"])
    size = card["input"]["shape"][0]
    return lambda files: normalization.apply_numpy(np.stack([resize_uint8(decode_file(f), size) for f in files]))


def _keras_predictor(run):
    model = run.load_model("float")
    card = run.read_card()
    preprocess = _preprocessor(card)
    return (lambda files: model.predict(preprocess(files), verbose=0)), card["labels"]


def _tflite_predictor(path):
    from lepton_tf.evaluate import TFLiteClassifier

    card = _find_card(path)
    if card is None:
        raise RunFolderError(f"no model_card.json found above {path}: labels and normalisation are unknown")
    classifier = TFLiteClassifier(path)
    preprocess = _preprocessor(card)
    return (lambda files: classifier.predict(preprocess(files))), card["labels"]


def _find_card(path):
    for folder in list(Path(path).resolve().parents)[:3]:
        card = RunFolder(folder).read_card()
        if card:
            return card
    return None


def predict_files(model_path, files, top_k=3):
    """Classifies each file; returns (lines to print, number of files that failed)."""
    classify, names = load_predictor(model_path)
    lines, failed = [], 0
    for file in files:
        try:
            decode_file(file)  # a clear message for unreadable files, whatever the model kind
        except (OSError, ValueError) as error:
            log.error("%s: not a readable image: %s", file, error)
            failed += 1
            continue
        probabilities = classify([file])[0]
        best = np.argsort(probabilities)[::-1][:top_k]
        labels = [names[i] if names else str(i) for i in best]
        lines.append(f"{file}: " + ", ".join(f"{label} {probabilities[i]:.3f}" for label, i in zip(labels, best)))
    return lines, failed
