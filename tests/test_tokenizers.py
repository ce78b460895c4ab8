import numpy as np

from lepton_tf.data.tokenizers import RegexTokenizer, WordPieceTokenizer
from lepton_tf.keras import tf

TEXTS = ["The film's GREAT, isn't it?", "a bad, bad film", "Café wörds über alles"]


def ids(tokenizer, texts):
    return tokenizer(tf.constant(texts)).numpy()


def test_regex_tokenizer_follows_the_mediapipe_conventions():
    tokenizer = RegexTokenizer.learn(TEXTS, vocabulary_size=100, min_count=1, sequence_length=6)
    assert tokenizer.vocabulary[:3] == ["<PAD>", "<START>", "<UNKNOWN>"]
    assert {"film's", "isn't", "café", "wörds", "über"} <= set(tokenizer.vocabulary)  # apostrophes, Unicode
    assert tokenizer.vocabulary[3] == "bad" or tokenizer.vocabulary[3] == "film"  # most frequent first
    row = ids(tokenizer, ["BAD zebra"])[0]
    vocab = tokenizer.vocabulary
    assert list(row) == [1, vocab.index("bad"), 2, 0, 0, 0]  # <START>, lower-cased word, <UNKNOWN>, <PAD>…
    assert ids(tokenizer, ["a " * 20]).shape == (1, 6)  # truncated at the end


def test_frequency_cut_keeps_the_most_frequent_words():
    tokenizer = RegexTokenizer.learn(TEXTS, vocabulary_size=10, min_count=2, sequence_length=4)
    assert tokenizer.vocabulary == ["<PAD>", "<START>", "<UNKNOWN>", "bad"]  # the only word seen twice


def test_vocabulary_files_round_trip_to_the_same_ids(tmp_path):
    for kind in (RegexTokenizer, WordPieceTokenizer):
        tokenizer = kind.learn(TEXTS * 3, vocabulary_size=60, min_count=1, sequence_length=10)
        tokenizer.save(tmp_path / f"{kind.kind}.txt")
        reloaded = kind.load(tmp_path / f"{kind.kind}.txt", 10)
        assert reloaded.vocabulary == tokenizer.vocabulary
        np.testing.assert_array_equal(ids(reloaded, TEXTS + ["unseen words"]), ids(tokenizer, TEXTS + ["unseen words"]))
    first_line = (tmp_path / "regex.txt").read_text(encoding="utf-8").splitlines()[0]
    assert first_line == "<PAD> 0"  # `token id` lines, as MediaPipe's regex tokenizer reads them


def test_wordpiece_pads_with_zero_and_splits_unknown_words_into_pieces():
    tokenizer = WordPieceTokenizer.learn(TEXTS * 100, vocabulary_size=120, min_count=1, sequence_length=12)
    assert tokenizer.vocabulary[tokenizer.pad_id] == "[PAD]" and tokenizer.pad_id == 0
    assert "bad" in tokenizer.vocabulary
    assert ids(tokenizer, ["bad"])[0].tolist() == [tokenizer.vocabulary.index("bad")] + [0] * 11
    pieces = ids(tokenizer, ["badfilm"])[0]
    assert np.count_nonzero(pieces) >= 2 and tokenizer.unknown_id not in pieces  # word pieces, not [UNK]
    assert ids(tokenizer, ["BAD"]).tolist() == ids(tokenizer, ["bad"]).tolist()  # lower-cases
