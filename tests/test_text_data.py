import logging
import re
from pathlib import Path

import numpy as np
import pytest
import tensorflow_datasets as tfds

from conftest import make_sentences, tiny_config, write_table
from lepton_tf.data.sources import load_data, resolve_task
from lepton_tf.data.text import load_text_folder, read_rows
from lepton_tf.errors import DataError


SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"


def text_config(folder, *extra):
    return tiny_config(folder, *extra).data


def load_raw(folder, train_bytes, name="train.tsv"):
    """Loads `folder` after writing `train_bytes` to `name` (and a small plain test file).

    Returns the data and its skips keyed by "file:line" (folder left out).
    """
    (folder / name).write_bytes(train_bytes)
    write_table(folder / "test.tsv", make_sentences(4, seed=2))
    data = load_text_folder(folder, text_config(folder, "data.val_fraction=0"))
    return data, {where.rsplit("/", 1)[-1]: reason for where, reason in data.skipped}


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


def test_tsv_quoted_field_keeps_its_tab_inside_the_text(tmp_path):
    train = b"label\ttext\npositive\tfun\nnegative\t\"dull\tand long\"\n"
    data, skips = load_raw(tmp_path, train)
    assert data.class_names == ["negative", "positive"] and not skips
    assert sorted(data.train.texts) == ["dull\tand long", "fun"]


def test_tsv_unquoted_extra_tab_skips_that_row_with_its_line(tmp_path):
    train = b"label\ttext\npositive\tfun\nnegative\tdull\tpositive\nnegative\tbad\n"
    data, skips = load_raw(tmp_path, train)
    assert skips == {"train.tsv:3": "3 fields, the header has 2 (an unquoted tab inside a text? quote that field)"}
    assert sorted(data.train.texts) == ["bad", "fun"] and data.class_names == ["negative", "positive"]


def test_csv_multi_line_quoted_field_is_exact_and_later_lines_keep_their_numbers(tmp_path):
    train = (b'text,label\n'
             b'"first line\nsecond, with ""quotes""",positive\n'  # lines 2-3
             b'ok,negative\n'  # line 4
             b'too,many,fields\n'  # line 5
             b',negative\n')  # line 6: empty text
    data, skips = load_raw(tmp_path, train, "train.csv")
    assert sorted(data.train.texts) == ['first line\nsecond, with "quotes"', "ok"]
    assert skips == {
        "train.csv:5": "3 fields, the header has 2 (an unquoted comma inside a text? quote that field)",
        "train.csv:6": "empty text",
    }


@pytest.mark.parametrize("name, train", [
    ("train.tsv", b"\xef\xbb\xbflabel\ttext\npositive\tfun\nnegative\tdull\n"),
    ("train.csv", b"\xef\xbb\xbflabel,text\npositive,fun\nnegative,dull\n"),
], ids=["tsv", "csv"])
def test_utf8_bom_before_the_header_is_ignored(tmp_path, name, train):
    data, skips = load_raw(tmp_path, train, name)
    assert sorted(data.train.texts) == ["dull", "fun"] and not skips


def test_crlf_line_endings_and_crlf_inside_quotes(tmp_path):
    train = b'label,text\r\npositive,"two\r\nlines"\r\nnegative,dull\r\n\r\nnegative,\r\n'
    data, skips = load_raw(tmp_path, train, "train.csv")
    assert sorted(data.train.texts) == ["dull", "two\r\nlines"]
    assert data.class_names == ["negative", "positive"]
    assert skips == {"train.csv:5": "empty line", "train.csv:6": "empty text"}


def test_unterminated_quote_stops_with_file_and_line(tmp_path):
    (tmp_path / "train.tsv").write_bytes(b'label\ttext\npositive\tfun\nnegative\t"never closed\npositive\tmore\n')
    with pytest.raises(DataError, match=re.escape("train.tsv:3: unterminated quoted field starting here")):
        read_rows(tmp_path / "train.tsv", "text", "label", [])


def test_text_after_a_closing_quote_skips_that_row_only(tmp_path):
    (tmp_path / "train.csv").write_bytes(b'label,text\npositive,fun\nnegative,"closed" early\nnegative,dull\n')
    skipped = []
    rows = read_rows(tmp_path / "train.csv", "text", "label", skipped)
    assert rows == [("fun", "positive"), ("dull", "negative")]
    assert [where for where, _ in skipped] == [f"{tmp_path / 'train.csv'}:3"]
    assert skipped[0][1].startswith("text after a closing quote mark")


def test_non_utf8_line_is_skipped_without_shifting_later_line_numbers(tmp_path):
    train = (b"label\ttext\npositive\tfun\n"
             b"negative\tbad \xff bytes\n"  # line 3
             b"negative\tdull\n"
             b"positive\tgood\textra\n")  # line 5
    data, skips = load_raw(tmp_path, train)
    assert skips["train.tsv:3"].startswith("not UTF-8")
    assert skips["train.tsv:5"].startswith("3 fields, the header has 2")
    assert len(skips) == 2 and sorted(data.train.texts) == ["dull", "fun"]


@pytest.mark.parametrize("name, count", [("sst2", 6920), ("trec", 5452)])
def test_shared_text_data_sets_load_every_row(name, count):
    path = SHARED_DATA / name / "train.tsv"
    if not path.is_file():
        pytest.skip(f"{path} not found")
    skipped = []
    rows = read_rows(path, "text", "label", skipped)
    assert len(rows) == count and not skipped
