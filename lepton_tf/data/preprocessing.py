"""What turns a raw input (image bytes or a sentence) into model inputs, as one object a run saves once.

`ImagePreprocessing` decodes, resizes and normalises; `TextPreprocessing`
tokenises with the run's vocabulary. The same object feeds the `tf.data`
pipelines (through the tasks), `lepton predict` / `Run.predict`, the
SavedModel signature (its TF ops are traced into the graph) and the TFLite
metadata. A run records it in the model card's `input` section (and
`vocab.txt`); `load_preprocessing` reads it back from there.
"""

from pathlib import Path

import numpy as np

from lepton_tf.data.images import decode_and_resize, decode_file, resize_uint8
from lepton_tf.data.pipeline import Normalization
from lepton_tf.data.tokenizers import DELIMITER_PATTERN, TOKENIZERS
from lepton_tf.errors import DataError, RunFolderError

VOCAB_FILE = "vocab.txt"


class ImagePreprocessing:
    """Decode → resize (`squash`, `crop` or `pad`) to `size` → per-channel `(pixel - mean) / std`."""

    kind = "image"

    def __init__(self, normalization, size, resize="squash"):
        self.normalization = normalization
        self.size = int(size)
        self.resize = resize

    @property
    def shape(self):
        return (self.size, self.size, 3)

    def pixels(self, inputs):
        """Image files (paths) or encoded bytes → uint8 [N, size, size, 3], as the loader makes them.

        Raises:
          DataError: an input that is neither a readable image file nor image bytes.
        """
        return np.stack([self._pixels(item) for item in inputs])

    def _pixels(self, item):
        from lepton_tf.keras import tf

        try:
            if isinstance(item, (bytes, bytearray)):
                return decode_and_resize(bytes(item), self.size, self.resize).numpy()
            if not isinstance(item, (str, Path)):
                raise TypeError(f"expected an image file or its bytes, got {type(item).__name__}")
            return resize_uint8(decode_file(item), self.size, self.resize)
        except (OSError, ValueError, TypeError, tf.errors.OpError) as error:
            shown = f"{bytes(item[:20])!r}…" if isinstance(item, (bytes, bytearray)) else repr(item)[:200]
            reason = str(error).strip().splitlines()[0][:200] if str(error).strip() else type(error).__name__
            raise DataError(f"{shown}: not a readable image ({reason})") from None

    def model_inputs(self, inputs):
        """What the Keras model takes: normalised float32 pixels."""
        return self.normalization.apply_numpy(self.pixels(inputs))

    def file_inputs(self, inputs):
        """What every TFLite file takes: pixels 0-255 (the normalisation is inside the file)."""
        return self.pixels(inputs).astype(np.float32)

    def serving_graph(self, data):
        """TF ops of the SavedModel signature: one encoded image → normalised float32 [size, size, 3]."""
        pixels = decode_and_resize(data, self.size, self.resize)
        return self.normalization.apply(pixels)

    def save(self, folder):
        """Images keep nothing beyond the card's `input` section."""

    def describe(self):
        """The model card's `input` section."""
        norm = self.normalization
        return {"shape": list(self.shape), "dtype": "float32", "layout": "NHWC, RGB", "resize": self.resize,
                "normalization": {"mean": norm.mean, "std": norm.std, "pixel_range": [0, 255],
                                  "formula": "(pixel - mean) / std, per channel"}}


class TextPreprocessing:
    """Lower-case, split and map words (regex) or word pieces to ids, padded to `sequence_length`."""

    kind = "text"

    def __init__(self, tokenizer):
        self.tokenizer = tokenizer

    @property
    def sequence_length(self):
        return self.tokenizer.sequence_length

    def model_inputs(self, texts):
        """Sentences → int32 token ids [N, sequence_length] (what the Keras model and every TFLite file take).

        Raises:
          DataError: an input that is not a sentence (str).
        """
        from lepton_tf.keras import tf

        texts = list(texts)
        wrong = [text for text in texts if not isinstance(text, str)]
        if wrong:
            raise DataError(f"a text model classifies sentences (str), got {type(wrong[0]).__name__}: "
                            f"{repr(wrong[0])[:80]}")
        return self.tokenizer(tf.constant(texts, tf.string)).numpy()

    file_inputs = model_inputs

    def serving_graph(self, texts):
        """TF ops of the SavedModel signature: a batch of sentences → token ids."""
        return self.tokenizer(texts)

    def save(self, folder):
        self.tokenizer.save(Path(folder) / VOCAB_FILE)

    def describe(self):
        tokenizer = self.tokenizer
        described = {"kind": tokenizer.kind, "vocabulary_file": VOCAB_FILE,
                     "vocabulary_size": len(tokenizer.vocabulary), "lowercase": True, "pad_id": tokenizer.pad_id,
                     "unknown_id": tokenizer.unknown_id, "truncation": "end", "padding": "end"}
        if tokenizer.kind == "regex":
            described.update(delimiter_pattern=DELIMITER_PATTERN, start_id=1, pad_token="<PAD>",
                             start_token="<START>", unknown_token="<UNKNOWN>")
        return {"shape": [tokenizer.sequence_length], "dtype": "int32", "content": "token ids",
                "tokenizer": described}


def load_preprocessing(described, folder):
    """The preprocessing a run recorded: its card's `input` section (and, for text, `folder/vocab.txt`).

    Raises:
      RunFolderError: the section is not one this version writes.
    """
    try:
        if "tokenizer" in described:
            tokenizer = described["tokenizer"]
            return TextPreprocessing(TOKENIZERS[tokenizer["kind"]].load(Path(folder) / tokenizer["vocabulary_file"],
                                                                        described["shape"][0]))
        recorded = described["normalization"]
        return ImagePreprocessing(Normalization(mean=recorded["mean"], std=recorded["std"]), described["shape"][0],
                                  described.get("resize", "squash"))
    except (KeyError, TypeError, IndexError) as error:
        raise RunFolderError(f"the model card in {folder} does not describe its input ({error!r} missing); "
                             f"train the run again") from None
