import logging
import re

import numpy as np
import pytest
import tensorflow_datasets as tfds

from conftest import make_sentences, tiny_config, write_table
from lepton_tf.data.sources import load_data, resolve_task
from lepton_tf.data.text import load_text_folder
from lepton_tf.errors import DataError


def text_config(folder, *extra):
    return tiny_config(folder, *extra).data


def test_tsv_with_dev_split_and_sorted_string_labels(tmp_path):
    write_table(tmp_path / "train.tsv", make_sentences(20))
    write_table(tmp_path / "dev.tsv", make_sentences(6, seed=3))
    write_table(tmp_path / "test.tsv", make_sentences(8, seed=4))
    data = load_text_folder(tmp_path, text_config(tmp_path))
    assert data.class_names == ["negative", "positive"]
    assert (len(data.train), len(data.val), len(data.test)) == (20, 6, 8)
    assert resolve_task(text_config(tmp_path)) == "text"


def test_csv_with_other_column_names_order_and_integer_labels(tmp_path):
    rows = [("I liked it, a lot", "10"), ("meh", "2"), ("fine", "2"), ("good", "10")]
    write_table(tmp_path / "train.csv", [(f'"{text}"', label) for text, label in rows],
                header=("sentence", "stars"), delimiter=",")
    write_table(tmp_path / "test.csv", [('"ok"', "2")], header=("sentence", "stars"), delimiter=",")
    data = load_text_folder(tmp_path, text_config(tmp_path, "data.text.text_column=sentence",
                                                  "data.text.label_column=stars", "data.val_fraction=0"))
    assert data.class_names == ["2", "10"]  # numeric order, not string order
    assert "I liked it, a lot" in data.train.texts  # quoted comma kept inside the field


def test_bad_rows_are_skipped_counted_and_named_with_file_and_line(tmp_path, caplog):
    train = tmp_path / "train.tsv"
    write_table(train, make_sentences(10))
    with open(train, "ab") as handle:
        handle.write(b"positive\tbad bytes \xff\xfe here\n")  # line 12
        handle.write(b"\n")  # line 13: empty
        handle.write(b"positive\n")  # line 14: missing text column
        handle.write(b"negative\t   \n")  # line 15: empty text
    write_table(tmp_path / "test.tsv", make_sentences(4, seed=2) + [("neutral", "never seen in train")])
    with caplog.at_level(logging.WARNING):
        data = load_text_folder(tmp_path, text_config(tmp_path))
    reasons = {where.rsplit("/", 1)[-1]: reason for where, reason in data.skipped}
    assert reasons["train.tsv:12"].startswith("not UTF-8")
    assert reasons["train.tsv:13"] == "empty line"
    assert reasons["train.tsv:14"] == "missing column"
    assert reasons["train.tsv:15"] == "empty text"
    assert "labels not in train: ['neutral']" in reasons["test.tsv"]
    assert len(data.test) == 4 and data.class_names == ["negative", "positive"]
    assert len([r for r in caplog.records if "skipped 5" in r.getMessage()]) == 1


@pytest.mark.parametrize("breakage, message", [
    ("no_train", "has no train.tsv or train.csv"),
    ("header", "train.tsv:1: header ['label', 'sentence'] has no 'text' column"),
])
def test_unusable_text_folders_stop_with_one_clear_message(tmp_path, breakage, message):
    if breakage == "header":
        write_table(tmp_path / "train.tsv", make_sentences(4), header=("label", "sentence"))
        config = text_config(tmp_path, "data.task=text")
    else:
        (tmp_path / "test.tsv").write_text("label\ttext\n")
        config = text_config(tmp_path, "data.task=text")
    with pytest.raises(DataError, match=re.escape(message)):
        load_text_folder(tmp_path, config)


def test_tfds_text_sets_load_offline_through_mock_data(tmp_path):
    with tfds.testing.mock_data(num_examples=20):
        data = load_data(tiny_config("tfds:imdb_reviews").data, tmp_path)
    assert data.class_names == ["neg", "pos"]
    assert len(data.test) == 20 and all(isinstance(text, str) for text in data.train.texts)
    assert np.all(data.train.labels >= 0)
