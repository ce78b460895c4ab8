"""TFDS text data sets (`DATA=tfds:imdb_reviews`, `tfds:glue/sst2`) as text splits."""

import numpy as np

from lepton_tf.data.splits import fill_missing_splits
from lepton_tf.data.text import TextData, TextSplit
from lepton_tf.data.tfds_images import tfds_info
from lepton_tf.errors import DataError

TEXT_FEATURES = ("text", "sentence", "review", "content", "question")


def text_feature(info):
    """The name of the text feature of a TFDS data set, or None."""
    return next((key for key in TEXT_FEATURES if key in info.features), None)


def load_tfds_text(name, config):
    """Loads `tfds:NAME` with a text feature and a class label.

    Examples with label -1 (hidden test labels, as in GLUE) are dropped; when
    a test split has no labels at all, `validation` serves as test.

    Raises:
      DataError: unknown name, or no text/label feature.
    """
    info = tfds_info(name)
    key = text_feature(info)
    if key is None or "label" not in info.features:
        raise DataError(f"tfds:{name} has no text feature ({', '.join(TEXT_FEATURES)}) and 'label'")
    skipped = []
    splits = {"train": _read(name, "train", key, skipped)}
    available = set(info.splits.keys()) or {"train", "test"}  # empty until prepared, and under mock_data
    if "test" in available:
        splits["test"] = _read(name, "test", key, skipped)
    if "validation" in available:
        validation = _read(name, "validation", key, skipped)
        labelled_test = len(splits.get("test", ())) > 0
        splits["val" if labelled_test else "test"] = validation
    return TextData(list(info.features["label"].names), *fill_missing_splits(splits, config), skipped)


def _read(name, split, key, skipped):
    import tensorflow_datasets as tfds

    try:
        dataset = tfds.load(name, split=split, shuffle_files=False)
    except Exception as error:  # TFDS raises many types for "not downloaded / no internet"
        raise DataError(f"cannot load tfds:{name} split '{split}': {type(error).__name__}: {error}") from None
    texts, labels, dropped = [], [], 0
    for example in tfds.as_numpy(dataset):
        if int(example["label"]) < 0:
            dropped += 1
            continue
        texts.append(example[key].decode("utf-8", errors="replace"))
        labels.append(int(example["label"]))
    if dropped:
        skipped.append((f"tfds:{name}/{split}", f"{dropped} examples without a label"))
    return TextSplit(texts, np.array(labels, np.int32))
