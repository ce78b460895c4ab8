"""Text classification: a tokenizer in the pipeline, the signature and vocab.txt."""

import numpy as np

from lepton_tf.data.text_pipeline import make_text_dataset, token_ids
from lepton_tf.data.tokenizers import DELIMITER_PATTERN, TOKENIZERS
from lepton_tf.export.saved_model import TextClassifierModule
from lepton_tf.models import build_model

VOCAB_FILE = "vocab.txt"


class TextTask:
    """A `TextData` with its tokenizer."""

    name = "text"
    float_input = False  # every TFLite file takes int32 token ids

    def __init__(self, data, tokenizer):
        self.data = data
        self.tokenizer = tokenizer

    @classmethod
    def fresh(cls, data, config):
        text = config.data.text
        tokenizer = TOKENIZERS[text.tokenizer].learn(data.train.texts, text.vocabulary_size, text.min_count,
                                                      text.sequence_length)
        return cls(data, tokenizer)

    @classmethod
    def reopen(cls, data, run, config):
        text = config.data.text
        return cls(data, TOKENIZERS[text.tokenizer].load(run.file(VOCAB_FILE), text.sequence_length))

    @property
    def class_names(self):
        return self.data.class_names

    def build_model(self, config):
        return build_model(config.model, "text", sequence_length=self.tokenizer.sequence_length,
                           vocabulary_size=len(self.tokenizer.vocabulary), num_classes=len(self.class_names))

    def dataset(self, split, config, training):
        return make_text_dataset(getattr(self.data, split), self.tokenizer, len(self.class_names),
                                 config.data.batch_size, config.data.seed, config.data.text if training else None)

    def examples(self, split, indices=None):
        """int32 token ids [N, sequence_length] and int labels of a split (or of `indices`)."""
        chosen = getattr(self.data, split)
        if indices is not None:
            chosen = chosen.take(indices)
        return token_ids(chosen.texts, self.tokenizer), chosen.labels

    def serving_inputs(self, split):
        """What a server client sends: the raw sentences."""
        return [text.encode("utf-8") for text in getattr(self.data, split).texts]

    def serving_module(self, model, config):
        return TextClassifierModule(model, self.class_names, self.tokenizer)

    def save_assets(self, run):
        self.tokenizer.save(run.file(VOCAB_FILE))

    def card_input(self):
        tokenizer = self.tokenizer
        described = {"kind": tokenizer.kind, "vocabulary_file": VOCAB_FILE,
                     "vocabulary_size": len(tokenizer.vocabulary), "lowercase": True, "pad_id": tokenizer.pad_id,
                     "unknown_id": tokenizer.unknown_id, "truncation": "end", "padding": "end"}
        if tokenizer.kind == "regex":
            described.update(delimiter_pattern=DELIMITER_PATTERN, start_id=1, pad_token="<PAD>",
                             start_token="<START>", unknown_token="<UNKNOWN>")
        return {"shape": [tokenizer.sequence_length], "dtype": "int32", "content": "token ids",
                "tokenizer": described}

    def card_data(self):
        return {"skipped_rows": [f"{p} ({r})" for p, r in self.data.skipped[:100]]}

    def first_example(self):
        return self.examples("test", np.arange(1))[0][0]
