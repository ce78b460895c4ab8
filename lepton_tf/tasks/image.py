"""Image classification: per-channel normalisation in the pipeline and the signature."""

import numpy as np

from lepton_tf.data.pipeline import Normalization, make_dataset
from lepton_tf.export.saved_model import ImageClassifierModule
from lepton_tf.keras import tf
from lepton_tf.models import build_model


class ImageTask:
    """An `ImageData` with its normalisation."""

    name = "image"
    float_input = True  # the int8 file's input is quantized (uint8/int8)

    def __init__(self, data, normalization):
        self.data = data
        self.normalization = normalization

    @classmethod
    def fresh(cls, data, config):
        return cls(data, Normalization.from_images(data.train.images))

    @classmethod
    def reopen(cls, data, run, config):
        recorded = run.read_card()["input"]["normalization"]
        return cls(data, Normalization(mean=recorded["mean"], std=recorded["std"]))

    @property
    def class_names(self):
        return self.data.class_names

    def build_model(self, config):
        return build_model(config.model, "image", input_shape=self.data.image_shape,
                           num_classes=len(self.class_names))

    def dataset(self, split, config, training):
        augment = config.data.augment if training else None
        return make_dataset(getattr(self.data, split), len(self.class_names), self.normalization,
                            config.data.batch_size, config.data.seed, augment)

    def examples(self, split, indices=None):
        """Normalised float32 inputs and int labels of a split (or of `indices` in it)."""
        chosen = getattr(self.data, split)
        if indices is not None:
            chosen = chosen.take(indices)
        return self.normalization.apply_numpy(chosen.images), chosen.labels

    def serving_inputs(self, split):
        """What a server client sends: PNG bytes (lossless, so the pixels are the split's)."""
        return [tf.io.encode_png(image).numpy() for image in getattr(self.data, split).images]

    def serving_module(self, model, config):
        return ImageClassifierModule(model, self.class_names, self.normalization, config.data.image_size)

    def save_assets(self, run):
        """Images need no files beyond labels.txt and the model card."""

    def card_input(self):
        norm = self.normalization
        return {"shape": list(self.data.image_shape), "dtype": "float32", "layout": "NHWC, RGB",
                "normalization": {"mean": norm.mean, "std": norm.std, "pixel_range": [0, 255],
                                  "formula": "(pixel - mean) / std, per channel"}}

    def card_data(self):
        return {"skipped_files": [f"{p} ({r})" for p, r in self.data.skipped[:100]]}

    def first_example(self):
        return self.examples("test", np.arange(1))[0][0]
