"""Image classification: per-channel normalisation in the pipeline and the signature."""

import functools
from pathlib import Path

import numpy as np

from lepton_tf.data.pipeline import Normalization, make_dataset
from lepton_tf.data.preprocessing import ImagePreprocessing
from lepton_tf.export.saved_model import ImageClassifierModule
from lepton_tf.keras import keras, tf
from lepton_tf.models import build_model, is_pretrained
from lepton_tf.robustness import AUTO, PerturbedSet, PerturbedTestSets, subset_indices
from lepton_tf.run_folder import labels_text

SMALL_IMAGE_ROBUSTNESS_EXAMPLES = 500
LARGE_IMAGE_ROBUSTNESS_EXAMPLES = 50


class ImageTask:
    """An `ImageData` with its `ImagePreprocessing` (normalisation, size, resize mode)."""

    name = "image"

    def __init__(self, data, preprocessing):
        self.data = data
        self.preprocessing = preprocessing

    @classmethod
    def fresh(cls, data, config):
        """Pretrained backbones take the normalisation their weights were trained with; others the data's."""
        if is_pretrained(config.model):
            from lepton_tf.models.pretrained import PREPROCESSING as normalization
        else:
            normalization = Normalization.from_images(data.train.images)
        return cls(data, ImagePreprocessing(normalization, data.image_shape[0], config.data.resize))

    @property
    def normalization(self):
        return self.preprocessing.normalization

    @property
    def resize(self):
        return self.preprocessing.resize  # how files of other shapes become squares: data.resize

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
        """Normalised float32 inputs (what the Keras model takes) and int labels of a split."""
        chosen = self._split(split, indices)
        return self.normalization.apply_numpy(chosen.images), chosen.labels

    def _split(self, split, indices):
        chosen = getattr(self.data, split)
        return chosen if indices is None else chosen.take(indices)

    def conversion_model(self, model):
        """The model TFLite files are converted from: normalisation in front, so they take raw pixels.

        MediaPipe normalises float inputs with one mean/std for all channels
        ("Per-channel image normalization is not available") and feeds uint8
        inputs as they are; with per-channel normalisation inside the graph,
        every file takes plain RGB pixels 0-255 and any client gets it right.
        """
        pixels = keras.Input(self.data.image_shape, name="image")
        normalized = keras.layers.Normalization(axis=-1, mean=self.normalization.mean,
                                                variance=np.square(self.normalization.std), name="normalize")(pixels)
        return keras.Model(pixels, model(normalized), name=f"{model.name}_on_pixels")

    def tflite_inputs(self, split, indices=None):
        """What every TFLite file takes: RGB pixels 0-255 (as float32; quantized files round them)."""
        return self._split(split, indices).images.astype(np.float32)

    def tflite_input_description(self, fmt):
        kind = "uint8" if fmt == "int8" else "float32"
        return f"RGB pixels 0-255 ({kind}); the per-channel normalisation is inside the model"

    def calibration_inputs(self, indices):
        """Representative inputs for int8 conversion from training examples at `indices`.

        A black and a white image pin the input range to exactly 0-255, so the
        uint8 input's scale is 1 and zero point 0: raw pixels, as apps feed them.
        """
        pixels = self.tflite_inputs("train", indices)
        extremes = np.stack([np.zeros_like(pixels[0]), np.full_like(pixels[0], 255.0)])
        return np.concatenate([extremes, pixels])

    def tflite_metadata(self, fmt, name, version, int8_io):
        """MediaPipe-readable metadata and the files to attach (or None, reason)."""
        from lepton_tf.export import metadata

        quantized = fmt == "int8"
        if quantized and int8_io != "uint8":
            return None, "int8 (signed) pixel input: MediaPipe feeds uint8"
        description = f"{len(self.class_names)}-class image classifier ({fmt})"
        model_metadata = metadata.image_classifier_metadata(name, description, version, quantized_input=quantized)
        return (model_metadata, {metadata.LABELS_FILE: labels_text(self.class_names).encode("utf-8")}), None

    def mediapipe_top1(self, path, count):
        """MediaPipe ImageClassifier's top-1 names on the first `count` test images.

        Image files are given as they are, at full size: MediaPipe resizes them
        itself, as it does a phone's camera frames (`crop` asks it for the
        centred square; for `pad` the letterboxed image is given, as MediaPipe
        cannot letterbox). Data sets without files give the decoded images.
        """
        from lepton_tf.export.mediapipe_client import image_files_top1, image_top1

        files = self._original_files("test")[:count]
        if files:
            return image_files_top1(path, files, self.resize)
        return image_top1(path, self.data.test.images[:count])

    def mediapipe_input_description(self):
        return "the original test files" if self._original_files("test") else "the decoded test images"

    def perturbed_test_sets(self, seed, count=AUTO):
        """A seeded subset of the test images under the 15 common corruptions at 5 severities each.

        AUTO takes 500 images up to 64 px and 50 larger ones: 75 sets of
        them go through every exported file, and a 224-px backbone on 2
        cores takes about 10 ms an image per file. The images are corrupted
        at the size the model takes, as CIFAR-10-C and ImageNet-C were.
        """
        from lepton_tf.robustness import image_corruptions as corruptions

        small = max(self.data.image_shape[:2]) <= corruptions.SMALL_IMAGE_SIDE
        if count == AUTO:
            count = SMALL_IMAGE_ROBUSTNESS_EXAMPLES if small else LARGE_IMAGE_ROBUSTNESS_EXAMPLES
        test = self.data.test.take(subset_indices(len(self.data.test.labels), count, seed))

        def perturbed_set(images):
            return PerturbedSet(images.astype(np.float32), [tf.io.encode_png(image).numpy() for image in images],
                                test.labels)

        def corrupted(name, severity):
            return perturbed_set(corruptions.corrupt_images(test.images, name, severity, seed))

        makers = {corruptions.set_name(name, severity): functools.partial(corrupted, name, severity)
                  for name in corruptions.CORRUPTIONS for severity in corruptions.SEVERITIES}
        description = (f"{len(corruptions.CORRUPTIONS)} common corruptions x {len(corruptions.SEVERITIES)} "
                       f"severities, {corruptions.constants_name(self.data.image_shape)}, "
                       f"on {len(test.labels)} seeded test images")
        return PerturbedTestSets(description, len(test.labels), functools.partial(perturbed_set, test.images), makers)

    def serving_inputs(self, split):
        """What a server client sends: the original files' bytes, else PNG bytes of the decoded images."""
        files = self._original_files(split)
        if files:
            return [Path(file).read_bytes() for file in files]
        return [tf.io.encode_png(image).numpy() for image in getattr(self.data, split).images]

    def _original_files(self, split):
        """The files a split was decoded from, or [] when it did not come from files (TFDS, digits)."""
        paths = getattr(self.data, split).paths
        return paths if paths and all(Path(p).is_file() for p in paths) else []

    def serving_module(self, model):
        return ImageClassifierModule(model, self.class_names, self.preprocessing)

    def card_data(self):
        return {"skipped_files": [f"{p} ({r})" for p, r in self.data.skipped[:100]]}

