"""Text classification: a tokenizer in the pipeline, the signature and vocab.txt."""

import functools

from lepton_tf.data.preprocessing import TextPreprocessing
from lepton_tf.data.text_pipeline import make_text_dataset, token_ids
from lepton_tf.data.tokenizers import DELIMITER_PATTERN, TOKENIZERS
from lepton_tf.export.saved_model import TextClassifierModule
from lepton_tf.models import build_model
from lepton_tf.robustness import AUTO, PerturbedSet, PerturbedTestSets, subset_indices
from lepton_tf.robustness.text_perturbations import PERTURBATIONS, perturb
from lepton_tf.run_folder import labels_text


class TextTask:
    """A `TextData` with its `TextPreprocessing` (tokenizer + vocabulary)."""

    name = "text"

    def __init__(self, data, preprocessing):
        self.data = data
        self.preprocessing = preprocessing

    @classmethod
    def fresh(cls, data, config):
        """Learns the vocabulary from the training sentences."""
        text = config.data.text
        tokenizer = TOKENIZERS[text.tokenizer].learn(data.train.texts, text.vocabulary_size, text.min_count,
                                                      text.sequence_length)
        return cls(data, TextPreprocessing(tokenizer))

    @property
    def tokenizer(self):
        return self.preprocessing.tokenizer

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

    def conversion_model(self, model):
        """Text files are converted from the model itself: they all take token ids."""
        return model

    def tflite_inputs(self, split, indices=None):
        return self.examples(split, indices)[0]

    def tflite_input_description(self, fmt):
        return f"int32 token ids [1, {self.tokenizer.sequence_length}]"

    def calibration_inputs(self, indices):
        return self.tflite_inputs("train", indices)

    def tflite_metadata(self, fmt, name, version, int8_io):
        """MediaPipe TextClassifier metadata (regex tokenizer + labels), or (None, reason)."""
        from lepton_tf.export import metadata

        if self.tokenizer.kind != "regex":
            return None, ("WordPiece models are server-only: MediaPipe's BERT tokenizer form expects "
                          "BERT-style ids, mask and segment inputs")
        description = f"{len(self.class_names)}-class text classifier ({fmt})"
        model_metadata = metadata.text_classifier_metadata(name, description, version, DELIMITER_PATTERN)
        files = {metadata.LABELS_FILE: labels_text(self.class_names).encode("utf-8"),
                 metadata.VOCAB_FILE: self.mobile_vocabulary().encode("utf-8")}
        return (model_metadata, files), None

    def mobile_vocabulary(self):
        """vocab.txt for MediaPipe: `token id` lines, each word also in Title and UPPER case.

        MediaPipe's regex tokenizer does not lower-case, while training did;
        mapping the common casings to the same id keeps the phone's ids equal
        to training's for lower, Title and UPPER case words (mixed case such
        as 'iPhone' falls back to <UNKNOWN> on the device).
        """
        lines = []
        for index, token in enumerate(self.tokenizer.vocabulary):
            variants = [token] if index < 3 else dict.fromkeys([token, token.capitalize(), token.upper()])
            lines.extend(f"{variant} {index}\n" for variant in variants)
        return "".join(lines)

    def mediapipe_top1(self, path, count):
        """MediaPipe TextClassifier's top-1 names on the first `count` test sentences."""
        from lepton_tf.export.mediapipe_client import text_top1

        return text_top1(path, self.data.test.texts[:count])

    def mediapipe_input_description(self):
        return "the raw test sentences"

    def serving_inputs(self, split):
        """What a server client sends: the raw sentences."""
        return [text.encode("utf-8") for text in getattr(self.data, split).texts]

    def perturbed_test_sets(self, seed, count=AUTO):
        """The test sentences (AUTO: all; else a seeded subset of `count`) under each text perturbation."""
        test = self.data.test
        indices = subset_indices(len(test.texts), len(test.texts) if count == AUTO else count, seed)
        texts, labels = [test.texts[i] for i in indices], test.labels[indices]

        def perturbed_set(sentences):
            return PerturbedSet(token_ids(sentences, self.tokenizer), [text.encode("utf-8") for text in sentences],
                                labels)

        def perturbed(name):
            return perturbed_set(perturb(texts, name, seed))

        makers = {name: functools.partial(perturbed, name) for name in PERTURBATIONS}
        description = f"{len(PERTURBATIONS)} keyboard and user perturbations of {len(texts)} test sentences"
        return PerturbedTestSets(description, len(texts), functools.partial(perturbed_set, texts), makers)

    def serving_module(self, model):
        return TextClassifierModule(model, self.class_names, self.preprocessing)

    def card_data(self):
        return {"skipped_rows": [f"{p} ({r})" for p, r in self.data.skipped[:100]]}
