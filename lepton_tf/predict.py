"""`lepton predict MODEL INPUT…`: top-k classes for image files or sentences.

MODEL is a run folder (its SavedModel, else its float Keras model), a
SavedModel folder, or a `.tflite` file inside a run folder (labels and
preprocessing come from the run's model card and vocab.txt). For image
models each INPUT is an image file; for text models each INPUT is a sentence.
"""

import logging
from pathlib import Path

import numpy as np

from lepton_tf.data.images import decode_file, resize_uint8
from lepton_tf.data.pipeline import Normalization
from lepton_tf.errors import ModelFileError, RunFolderError
from lepton_tf.run_folder import RunFolder

log = logging.getLogger(__name__)


def load_predictor(model_path):
    """Returns (classify, card) where classify(list of inputs) → probabilities [N, C].

    Raises:
      RunFolderError: MODEL is none of the supported kinds, or no model card is found for it.
    """
    path = Path(model_path)
    if path.is_dir() and (path / "saved_model" / "1" / "saved_model.pb").is_file():
        path = path / "saved_model" / "1"
    card = _find_card(path)
    if card is None:
        raise RunFolderError(f"no model_card.json found for {path}: labels and preprocessing are unknown")
    if path.is_dir() and (path / "saved_model.pb").is_file():
        return _saved_model_predictor(path, card), card
    if path.is_dir() and RunFolder(path).model_path("float").is_file():
        model = RunFolder(path).load_model("float")
        preprocess = _preprocessor(card, path, normalise=True)
        return (lambda inputs: model.predict(preprocess(inputs), verbose=0)), card
    if path.is_file() and path.suffix == ".tflite":
        from lepton_tf.evaluate import TFLiteClassifier

        classifier = TFLiteClassifier(path)
        preprocess = _preprocessor(card, _run_dir_of(path), normalise=False)  # TFLite files take pixels
        return (lambda inputs: classifier.predict(preprocess(inputs))), card
    raise RunFolderError(f"{model_path} is not a run folder, a SavedModel folder or a .tflite file")


def _saved_model_predictor(path, card):
    from lepton_tf.keras import tf

    try:
        signature = tf.saved_model.load(str(path)).signatures["serving_default"]
    except (OSError, ValueError, KeyError, RuntimeError, tf.errors.OpError) as error:
        raise ModelFileError(f"{path} is not a readable SavedModel with a serving_default signature "
                             f"({str(error).strip().splitlines()[0][:200]})") from None
    if card["task"] == "text":
        return lambda inputs: signature(texts=tf.constant(inputs))["probabilities"].numpy()
    return lambda inputs: signature(images=tf.constant([Path(f).read_bytes() for f in inputs]))["probabilities"].numpy()


def _preprocessor(card, run_dir, normalise):
    if card["task"] == "text":
        from lepton_tf.data.tokenizers import TOKENIZERS
        from lepton_tf.keras import tf

        described = card["input"]["tokenizer"]
        tokenizer = TOKENIZERS[described["kind"]].load(Path(run_dir) / described["vocabulary_file"],
                                                       card["input"]["shape"][0])
        return lambda texts: tokenizer(tf.constant(texts)).numpy()
    recorded = card["input"]["normalization"]
    normalization = Normalization(recorded["mean"], recorded["std"])
    size, resize = card["input"]["shape"][0], card["input"].get("resize", "squash")

    def preprocess(files):
        pixels = np.stack([resize_uint8(decode_file(f), size, resize) for f in files])
        return normalization.apply_numpy(pixels) if normalise else pixels.astype(np.float32)

    return preprocess


def _run_dir_of(path):
    for folder in list(Path(path).resolve().parents)[:3]:
        if (folder / "model_card.json").is_file():
            return folder
    return None


def _find_card(path):
    run_dir = _run_dir_of(path / "x") if Path(path).is_dir() else _run_dir_of(path)
    return RunFolder(run_dir).read_card() if run_dir else None


def predict(model_path, inputs, top_k=3):
    """Classifies each input; returns (lines to print, number of inputs that failed)."""
    classify, card = load_predictor(model_path)
    names = card["labels"]
    lines, failed = [], 0
    for item in inputs:
        if card["task"] == "image":
            try:
                decode_file(item)  # a clear message for unreadable files, whatever the model kind
            except (OSError, ValueError) as error:
                log.error("%s: not a readable image: %s", item, error)
                failed += 1
                continue
        probabilities = classify([item])[0]
        best = np.argsort(probabilities)[::-1][:top_k]
        lines.append(f"{item}: " + ", ".join(f"{names[i]} {probabilities[i]:.3f}" for i in best))
    return lines, failed
