"""Tokenizers that run as TensorFlow ops inside `tf.data` and the SavedModel.

- `RegexTokenizer`: lower-case, split on non-word characters, a frequency-cut word
  vocabulary with MediaPipe's conventions (`<PAD>`=0, `<START>`=1,
  `<UNKNOWN>`=2, `<START>` first in every sequence) — the form that mobile
  runtimes tokenise on the device.
- `WordPieceTokenizer`: a keras-nlp WordPiece vocabulary learned from the
  training split (`compute_word_piece_vocabulary`) and keras-nlp's tokenizer.
  keras-nlp is Keras 3, so it is used only here, as TF ops, never as a layer
  of the tf-keras model.

Both map a batch of strings to int32 ids `[batch, sequence_length]`, padded
with 0 and truncated at the end, and save their vocabulary as `vocab.txt`.
"""

import collections
from pathlib import Path

from lepton_tf.fileio import write_text
from lepton_tf.keras import tf

PAD, START, UNKNOWN = "<PAD>", "<START>", "<UNKNOWN>"
# RE2 syntax; \pL/\pN keep letters and digits of every script (RE2's \w is ASCII-only).
DELIMITER_PATTERN = r"[^\pL\pN_']+"
WORDPIECE_RESERVED = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]


class RegexTokenizer(tf.Module):
    """Lower-case regex word tokenizer with a fixed vocabulary (ids = line numbers of vocab.txt)."""

    kind = "regex"

    def __init__(self, vocabulary, sequence_length):
        super().__init__()
        if vocabulary[:3] != [PAD, START, UNKNOWN]:
            raise ValueError(f"a regex vocabulary starts with {PAD}, {START}, {UNKNOWN}")
        self.vocabulary = list(vocabulary)
        self.sequence_length = int(sequence_length)
        self.pad_id, self.unknown_id = 0, 2
        self.table = tf.lookup.StaticHashTable(
            tf.lookup.KeyValueTensorInitializer(tf.constant(self.vocabulary[3:]),
                                                tf.range(3, len(self.vocabulary), dtype=tf.int64)),
            default_value=self.unknown_id)

    @staticmethod
    def words(texts):
        """Lower-cased words of each string (a RaggedTensor of strings)."""
        lowered = tf.strings.lower(texts, encoding="utf-8")
        return tf.strings.split(tf.strings.strip(tf.strings.regex_replace(lowered, DELIMITER_PATTERN, " ")))

    @classmethod
    def learn(cls, texts, vocabulary_size, min_count, sequence_length):
        """Keeps the `vocabulary_size - 3` most frequent words seen at least `min_count` times."""
        counts = collections.Counter()
        for start in range(0, len(texts), 4096):
            words = cls.words(tf.constant(texts[start:start + 4096])).flat_values.numpy()
            counts.update(word.decode("utf-8") for word in words)
        ranked = sorted((w for w, c in counts.items() if c >= min_count), key=lambda w: (-counts[w], w))
        return cls([PAD, START, UNKNOWN] + ranked[: max(vocabulary_size - 3, 0)], sequence_length)

    def ragged_ids(self, texts):
        """Unpadded ids with `<START>` first: RaggedTensor int32 [batch, None]."""
        words = self.words(texts)
        ids = tf.ragged.map_flat_values(lambda w: tf.cast(self.table.lookup(w), tf.int32), words)
        start = tf.fill([tf.shape(texts)[0], 1], 1)
        return tf.concat([tf.RaggedTensor.from_tensor(start), ids], axis=1)

    def __call__(self, texts):
        return pad_ids(self.ragged_ids(texts), self.sequence_length)

    def save(self, path):
        """Writes `vocab.txt` as `token id` lines (the format MediaPipe's regex tokenizer reads)."""
        write_text(path, "".join(f"{token} {i}\n" for i, token in enumerate(self.vocabulary)))

    @classmethod
    def load(cls, path, sequence_length):
        tokens = [line.rsplit(" ", 1)[0] for line in Path(path).read_text(encoding="utf-8").splitlines()]
        return cls(tokens, sequence_length)


class WordPieceTokenizer(tf.Module):
    """keras-nlp WordPiece (lower-case) with a vocabulary learned from the training split."""

    kind = "wordpiece"

    def __init__(self, vocabulary, sequence_length):
        import keras_nlp

        super().__init__()
        self.vocabulary = list(vocabulary)
        self.sequence_length = int(sequence_length)
        self.pad_id, self.unknown_id = self.vocabulary.index("[PAD]"), self.vocabulary.index("[UNK]")
        self.tokenizer = keras_nlp.tokenizers.WordPieceTokenizer(
            vocabulary=self.vocabulary, lowercase=True, oov_token="[UNK]", dtype="int32")
        # In eager mode keras-nlp returns Python lists for ragged output; as a
        # graph function it returns a tf.RaggedTensor in every context.
        self._tokenize = tf.function(self.tokenizer.tokenize)

    @classmethod
    def learn(cls, texts, vocabulary_size, min_count, sequence_length):
        """Learns a WordPiece vocabulary (`min_count` is not used by WordPiece)."""
        import keras_nlp

        dataset = tf.data.Dataset.from_tensor_slices(list(texts)).batch(1024)
        vocabulary = keras_nlp.tokenizers.compute_word_piece_vocabulary(
            dataset, vocabulary_size, lowercase=True, reserved_tokens=WORDPIECE_RESERVED)
        return cls(vocabulary, sequence_length)

    def ragged_ids(self, texts):
        return self._tokenize(texts)

    def __call__(self, texts):
        return pad_ids(self.ragged_ids(texts), self.sequence_length)

    def save(self, path):
        """Writes `vocab.txt`, one token a line (the BERT vocabulary format)."""
        write_text(path, "".join(f"{token}\n" for token in self.vocabulary))

    @classmethod
    def load(cls, path, sequence_length):
        return cls(Path(path).read_text(encoding="utf-8").splitlines(), sequence_length)


TOKENIZERS = {"regex": RegexTokenizer, "wordpiece": WordPieceTokenizer}


def pad_ids(ragged, sequence_length):
    """Truncates at the end and pads with 0 to int32 [batch, sequence_length]."""
    return tf.cast(ragged.to_tensor(default_value=0, shape=[None, sequence_length]), tf.int32)
