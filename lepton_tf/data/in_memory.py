"""Data a user holds in memory (numpy images or a list of sentences), written once into the run folder.

Writing it out as an ordinary image folder or `train.csv` means the run is
made and reopened exactly like a folder run: the same loader, splits,
`choose()` rule and run-folder record (`config.yaml` names the folder), so
`lepton quantize` works on it later from any process.
"""

import csv
import io
from pathlib import Path

import numpy as np
from PIL import Image

from lepton_tf.errors import DataError
from lepton_tf.fileio import atomic_dir

FOLDER = "data/in_memory"  # inside the run folder
MAX_NAME_BYTES = 200  # a class name is a folder name; file systems allow 255 bytes


def check_in_memory(data, class_names):
    """Validates `(images, labels)` or `(texts, labels)`; returns (kind, inputs, labels, class_names).

    Args:
      data: a pair: uint8 images [N, H, W, 3] (or [N, H, W] / [N, H, W, 1] grayscale) or
        N strings; and N integer labels indexing `class_names`.
      class_names: one name per class, each used by at least one label.

    Raises:
      DataError: anything that does not fit, in one line.
    """
    if not (isinstance(data, (tuple, list)) and len(data) == 2):
        raise DataError("in-memory data must be a pair (images or texts, labels)")
    inputs, labels = data
    inputs = inputs if isinstance(inputs, np.ndarray) else list(inputs)
    labels = np.asarray(list(labels) if not isinstance(labels, np.ndarray) else labels)
    class_names = _check_class_names(class_names)
    if len(inputs) == 0:
        raise DataError("in-memory data holds no examples")
    if labels.ndim != 1 or not np.issubdtype(labels.dtype, np.integer) or len(labels) != len(inputs):
        raise DataError(f"labels must be {len(inputs)} integers (one per example), got shape {labels.shape} "
                        f"of {labels.dtype}")
    if labels.min() < 0 or labels.max() >= len(class_names):
        raise DataError(f"labels must lie in 0..{len(class_names) - 1} (indices into class_names)")
    unused = [name for index, name in enumerate(class_names) if not np.any(labels == index)]
    if unused:
        raise DataError(f"class_names {unused[:5]!r} have no examples: give each class at least one")
    if isinstance(inputs, np.ndarray) and inputs.ndim in (3, 4):
        return "image", _check_images(inputs), labels, class_names
    if all(isinstance(text, str) for text in inputs):
        return "text", _check_texts(inputs), labels, class_names
    raise DataError("in-memory inputs must be uint8 images [N, H, W, 3] or strings")


def _check_class_names(class_names):
    """The names as a list, when each can name a class folder and a line of labels.txt."""
    names = list(class_names or [])
    if not names or len(set(names)) != len(names):
        raise DataError("in-memory data needs class_names: one distinct name per class")
    unusable = [name for name in names if not isinstance(name, str) or not _usable_name(name)]
    if unusable:
        raise DataError(f"class names {[str(name)[:40] for name in unusable[:5]]!r} cannot each name a class folder and one line of labels.txt: "
                        f"use non-empty names of at most {MAX_NAME_BYTES} bytes, without slashes or line breaks, "
                        f"not starting with a dot")
    return names


def _usable_name(name):
    return (name.strip() != "" and not name.startswith(".") and name.splitlines() == [name]
            and not any(c in name for c in "/\\\0") and len(name.encode("utf-8", "replace")) <= MAX_NAME_BYTES)


def _check_texts(texts):
    for index, text in enumerate(texts):
        try:
            text.encode("utf-8")
        except UnicodeEncodeError:
            raise DataError(f"text {index} is not valid Unicode (it holds a lone surrogate): {text[:40]!r}") from None
    return texts


def _check_images(images):
    if images.dtype != np.uint8:
        raise DataError(f"in-memory images must be uint8 pixels 0-255, got {images.dtype}")
    if images.ndim == 4 and images.shape[-1] == 1:
        images = images[..., 0]
    if images.ndim == 4 and images.shape[-1] != 3:
        raise DataError(f"in-memory images must have 1 or 3 channels, got shape {images.shape}")
    return images


def write_in_memory(destination, kind, inputs, labels, class_names):
    """Writes the examples as `destination/<class>/NNNNNN.png` or `destination/train.csv`, atomically.

    A class folder is named by its class name, so the run's class order is
    the sorted names, as for any folder (predictions name the class, not its index).

    Returns:
      The folder path.
    """
    destination = Path(destination)
    with atomic_dir(destination) as tmp:
        if kind == "image":
            for name in class_names:
                (tmp / name).mkdir()
            for index, (image, label) in enumerate(zip(inputs, labels)):
                Image.fromarray(image).save(tmp / class_names[label] / f"{index:06d}.png")
        else:
            (tmp / "train.csv").write_text(_csv_text(inputs, labels, class_names), encoding="utf-8")
    return destination


def _csv_text(texts, labels, class_names):
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["text", "label"])
    for text, label in zip(texts, labels):
        writer.writerow([" ".join(text.split()), class_names[label]])  # line breaks would end a row
    return out.getvalue()
