"""Text data sets: a folder of `train`/`test` (and `dev`/`validation`) TSV or CSV files.

A header row names the columns; `data.text.text_column` and
`data.text.label_column` say which hold the sentence and its label. Labels
are strings or integers; class order is sorted (numerically when every label
is an integer). Rows that cannot be used are skipped, counted and reported
once with file and line; a header without the configured columns stops
early with one clear message.
"""

import csv
import dataclasses
import io
from pathlib import Path

import numpy as np

from lepton_tf.data.splits import fill_missing_splits, report_skipped
from lepton_tf.errors import DataError

SPLIT_NAMES = {"train": ("train",), "val": ("dev", "validation", "val"), "test": ("test",)}
EXTENSIONS = {".tsv": "\t", ".csv": ","}


@dataclasses.dataclass
class TextSplit:
    """One split: sentences and int labels (indices into the class names)."""

    texts: list
    labels: np.ndarray

    def __len__(self):
        return len(self.labels)

    def take(self, indices):
        indices = np.asarray(indices, dtype=np.int64)
        return TextSplit([self.texts[i] for i in indices], self.labels[indices])


@dataclasses.dataclass
class TextData:
    """A text data set: class names, three splits and the skipped rows."""

    class_names: list
    train: TextSplit
    val: TextSplit
    test: TextSplit
    skipped: list = dataclasses.field(default_factory=list)  # (file:line, reason)


def find_split_files(folder):
    """Maps 'train', 'test' and optionally 'val' to the TSV/CSV files in `folder`."""
    found = {}
    for split, names in SPLIT_NAMES.items():
        for name in names:
            for extension in EXTENSIONS:
                if split not in found and (Path(folder) / f"{name}{extension}").is_file():
                    found[split] = Path(folder) / f"{name}{extension}"
    return found


def is_text_folder(folder):
    """True when `folder` holds a train.tsv or train.csv."""
    return "train" in find_split_files(folder)


def read_rows(path, text_column, label_column, skipped):
    """Reads (text, raw label) pairs from one TSV/CSV file.

    Raises:
      DataError: the header lacks a configured column.
    """
    delimiter = EXTENSIONS[path.suffix]
    rows = []
    lines = path.read_bytes().split(b"\n")
    header = _decode(lines[0], path, 1, skipped) if lines else None
    # TSV fields are never quoted (a sentence may start with a quote mark); CSV follows RFC 4180.
    quoting = csv.QUOTE_NONE if delimiter == "\t" else csv.QUOTE_MINIMAL
    columns = next(csv.reader([header or ""], delimiter=delimiter, quoting=quoting))
    columns = [column.strip() for column in columns]
    for wanted in (text_column, label_column):
        if wanted not in columns:
            raise DataError(f"{path}:1: header {columns} has no '{wanted}' column "
                            f"(set data.text.text_column / data.text.label_column)")
    text_at, label_at = columns.index(text_column), columns.index(label_column)
    for number, raw in enumerate(lines[1:], start=2):
        line = _decode(raw, path, number, skipped)
        if line is None:
            continue
        if not line.strip():
            if number < len(lines):  # the newline at the end of the file is not an empty line
                skipped.append((f"{path}:{number}", "empty line"))
            continue
        fields = next(csv.reader(io.StringIO(line), delimiter=delimiter, quoting=quoting), [])
        if len(fields) <= max(text_at, label_at) or not fields[label_at].strip():
            skipped.append((f"{path}:{number}", "missing column"))
        elif not fields[text_at].strip():
            skipped.append((f"{path}:{number}", "empty text"))
        else:
            rows.append((fields[text_at].strip(), fields[label_at].strip()))
    return rows


def _decode(raw, path, number, skipped):
    try:
        return raw.decode("utf-8").rstrip("\r")
    except UnicodeDecodeError as error:
        skipped.append((f"{path}:{number}", f"not UTF-8 ({error.reason} at byte {error.start})"))
        return None


def sort_labels(labels):
    """Sorted class names; numerically when every label is an integer."""
    unique = set(labels)
    if all(label.lstrip("-").isdigit() for label in unique):
        return sorted(unique, key=int)
    return sorted(unique)


def to_split(rows, class_names, path, skipped):
    """Turns rows into a TextSplit; labels unseen in train are skipped and counted."""
    index = {name: i for i, name in enumerate(class_names)}
    kept = [(text, index[label]) for text, label in rows if label in index]
    unseen = sorted({label for _, label in rows if label not in index})
    if unseen:
        count = sum(1 for _, label in rows if label not in index)
        skipped.append((str(path), f"{count} rows with labels not in train: {unseen}"))
    return TextSplit([text for text, _ in kept], np.array([label for _, label in kept], np.int32))


def load_text_folder(folder, config):
    """Loads a text folder into train/val/test splits.

    Args:
      folder: path with train.tsv|csv, test.tsv|csv and optionally dev/validation.
      config: a `DataConfig` (its `text` section names the columns).

    Raises:
      DataError: missing folder or train file, a header without the columns,
        or a train file with no usable rows.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise DataError(f"data folder not found: {folder}")
    files = find_split_files(folder)
    if "train" not in files:
        raise DataError(f"{folder} has no train.tsv or train.csv")
    skipped = []
    rows = {split: read_rows(path, config.text.text_column, config.text.label_column, skipped)
            for split, path in files.items()}
    if not rows["train"]:
        raise DataError(f"{files['train']} has no usable rows")
    class_names = sort_labels(label for _, label in rows["train"])
    splits = {split: to_split(split_rows, class_names, files[split], skipped) for split, split_rows in rows.items()}
    report_skipped(skipped, "rows or files")
    return TextData(class_names, *fill_missing_splits(splits, config), skipped)
