"""Text data sets: a folder of `train`/`test` (and `dev`/`validation`) TSV or CSV files.

A header row names the columns; `data.text.text_column` and
`data.text.label_column` say which hold the sentence and its label. Labels
are strings or integers; class order is sorted (numerically when every label
is an integer).

Both kinds of file follow the `csv` module's rules (tab or comma between
fields): a field in double quotes may hold the delimiter, a newline or a
doubled quote mark (""), so one record may span several lines; a UTF-8 byte
order mark at the start (spreadsheet exports write one) is ignored, and
LF, CRLF and CR line endings all work. Rows that cannot be used (a line that
is not UTF-8, an empty line, a missing label or text, more fields than the
header, which usually means an unquoted tab or comma inside a text) are
skipped, counted and reported once with file and line. A header without the
configured columns or a quote mark never closed stops early with one clear
message naming the file and line; text after a closing quote mark (`"Great"
movie` in an unquoted field) skips that row.
"""

import codecs
import csv
import dataclasses
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
    """Reads (text, raw label) pairs, both stripped, from one TSV/CSV file.

    Unusable records are appended to `skipped` as ("FILE:LINE", reason), LINE
    being the physical line where the record starts (the header is line 1).

    Raises:
      DataError: the header lacks a configured column, or a quoted field is
        malformed (e.g. never closed).
    """
    delimiter = EXTENSIONS[path.suffix]
    numbers = []  # the line number of each line handed to the csv reader, in order
    reader = csv.reader(_utf8_lines(path, numbers, skipped), delimiter=delimiter, strict=True)
    records = _records(reader, numbers, path, skipped)
    start, header = next(records, (1, []))
    columns = [column.strip() for column in header] if start == 1 else []  # line 1 not UTF-8: no header
    for wanted in (text_column, label_column):
        if wanted not in columns:
            raise DataError(f"{path}:1: header {columns} has no '{wanted}' column "
                            f"(set data.text.text_column / data.text.label_column)")
    text_at, label_at = columns.index(text_column), columns.index(label_column)
    rows = []
    for start, fields in records:
        problem = _problem(fields, len(columns), text_at, label_at, delimiter)
        if problem:
            skipped.append((f"{path}:{start}", problem))
        else:
            rows.append((fields[text_at].strip(), fields[label_at].strip()))
    return rows


def _utf8_lines(path, numbers, skipped):
    """Yields the file's lines decoded, line endings kept, as open(newline="") would.

    Keeping the endings lets the csv reader keep a CRLF inside quotes and end
    records itself. A line that is not UTF-8 is skipped and counted here, and
    `numbers` gets the line number of each line yielded, so the records after
    a bad line keep their true line numbers.
    """
    data = path.read_bytes()
    if data.startswith(codecs.BOM_UTF8):  # else the first column would be named "\ufefflabel"
        data = data[len(codecs.BOM_UTF8):]
    # Splitting bytes (\n, \r\n or \r) is safe: UTF-8 never uses those bytes inside a character.
    for number, raw in enumerate(data.splitlines(keepends=True), start=1):
        try:
            line = raw.decode("utf-8")
        except UnicodeDecodeError as error:
            skipped.append((f"{path}:{number}", f"not UTF-8 ({error.reason} at byte {error.start})"))
            continue
        numbers.append(number)
        yield line


def _records(reader, numbers, path, skipped):
    """Yields (line where the record starts, fields).

    Text after a closing quote mark skips that record (counted); any other
    csv.Error, such as a quote never closed, becomes a DataError there.
    """
    while True:
        first = reader.line_num  # lines read so far; the record starts at the next one
        try:
            fields = next(reader)
        except StopIteration:
            return
        except csv.Error as error:
            line = numbers[min(first, len(numbers) - 1)] if numbers else 1
            if "expected after" not in str(error):  # an open quote swallowed the rest of the file
                raise DataError(f"{path}:{line}: {_explain(error)}") from None
            skipped.append((f"{path}:{line}", _explain(error)))  # the reader goes on at the next line
            continue
        yield numbers[first], fields


def _explain(error):
    """One line saying what a csv.Error means for someone editing the file."""
    message = str(error)
    if message.startswith("unexpected end of data"):
        return "unterminated quoted field starting here (a quote mark opens a field and is never closed)"
    if message.startswith("field larger than field limit"):
        return f"unterminated quoted field starting here? ({message})"
    if "expected after" in message:
        return (f"text after a closing quote mark ({message}); quote the whole field "
                f"and double the quote marks inside it (\"\")")
    return f"malformed record ({message})"


def _problem(fields, width, text_at, label_at, delimiter):
    """Why a record cannot be used (the reason reported), or None when it can."""
    if not "".join(fields).strip():
        return "empty line"
    if len(fields) > width:
        name = "tab" if delimiter == "\t" else "comma"
        return (f"{len(fields)} fields, the header has {width} "
                f"(an unquoted {name} inside a text? quote that field)")
    if len(fields) < width or not fields[label_at].strip():
        return "missing column"
    if not fields[text_at].strip():
        return "empty text"
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
