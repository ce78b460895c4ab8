"""MediaPipe Model Maker's image-classifier recipe, reproduced: the peer of the transfer row.

Model Maker (`mediapipe-model-maker`) pins TensorFlow < 2.16 and cannot be
installed next to this project, so its recipe is rebuilt here from its source
(google-ai-edge/mediapipe, `mediapipe/model_maker/python/`, read at commit
85c0cdc, 2026-08-21) with the defaults a user gets from
`ImageClassifier.create(train, validation, ImageClassifierOptions(
supported_model=SupportedModels.EFFICIENTNET_LITE0))` followed by
`export_model()` (float32) and `export_model(quantization_config=
QuantizationConfig.for_int8(train_data))` (its demo's int8 export):

- Model (`vision/image_classifier/model_spec.py`, `image_classifier.py`
  `_create_model`): the TF Hub EfficientNet-Lite0 feature vector
  (`tensorflow/efficientnet/lite0/feature-vector/2`) at 224x224, frozen
  (`hub.KerasLayer(trainable=do_fine_tuning)`, `HParams.do_fine_tuning=False`),
  then Dropout(`ImageClassifierModelOptions.dropout_rate=0.2`) and
  Dense(softmax) with an L1/L2 kernel regularizer
  (`HParams.l1_regularizer=0.0`, `l2_regularizer=0.0001`). Here the backbone is
  `lepton_tf.models.efficientnet_lite` with the same ImageNet weights, pooled
  as the feature vector is.
- Input (`model_spec.py`, `ModelSpec` defaults `mean_rgb=[0.0]`,
  `stddev_rgb=[255.0]`): pixels / 255, i.e. [0, 1], the TF Hub image
  convention. The Lite checkpoints were trained on (pixel - 127) / 128, which
  the hub module computes inside; a fixed `Rescaling` layer does that here, so
  the files take [0, 1] as Model Maker's do and carry the same normalisation
  metadata (mean 0, std 255).
- Training (`hyperparameters.py` `HParams`, `core/hyperparameters.py`
  `BaseHParams`, `core/tasks/classifier.py` `_train_model`): 10 epochs,
  batch size 2, learning rate 0.001, CategoricalCrossentropy with label
  smoothing 0.1 on one-hot labels; `steps_per_epoch = len(train) //
  batch_size` (`core/utils/model_util.py` `get_steps_per_epoch`), last partial
  batch dropped; `shuffle=False`: the file list is shuffled once when loaded
  (`vision/image_classifier/dataset.py` `from_folder`) and then read in that
  order every epoch; validation data is evaluated after every epoch (it only
  reports, so it counts in the training time, not in the model).
- Optimizer (`image_classifier.py` `_create_optimizer`): RMSprop(rho=0.9,
  momentum=0.9, epsilon=0.001); the rule in `learning_rate_schedule`: initial
  rate learning_rate x batch_size / 256, cosine decay (alpha 0) over
  max(steps_per_epoch x epochs, decay_samples // batch_size) steps with
  `decay_samples=10000*256`, behind a linear warm-up of `warmup_epochs=2`
  epochs (`core/utils/model_util.py` `WarmUp`). (Cosine, not exponential:
  Model Maker has used CosineDecay since its first release.)
- Augmentation (`do_data_augmentation=True`; `vision/core/
  image_preprocessing.py`): train images get a random crop
  (`sample_distorted_bounding_box`: area 0.08-1, aspect 3/4-4/3, 10 attempts,
  else the centre crop) resized bilinearly to 224, and a random left-right
  flip; evaluation images the centre crop of side 224/(224+32) of the short
  side, resized bilinearly to 224.
- int8 (`core/utils/quantization.py` `QuantizationConfig.for_int8`,
  `core/utils/model_util.py` `convert_to_tflite`): the Keras model saved as a
  SavedModel and converted with `Optimize.DEFAULT`, a representative dataset
  of the first 500 (`DEFAULT_QUANTIZATION_STEPS`) training images with the
  evaluation preprocessing, batch 1, uint8 input and output,
  `experimental_new_quantizer=False`. `for_int8` asks for
  `TFLITE_BUILTINS_INT8` ops, but `convert_to_tflite_from_file` then resets
  `supported_ops` to its own default `(TFLITE_BUILTINS,)`; that is what runs,
  so it is what runs here.
- Metadata (`image_classifier.py` `export_model`): MediaPipe's image
  classifier metadata with mean 0 / std 255 and the labels, on both files.

Practical note: batch size 2 means one optimizer step every 2 images, which
keeps the 2 CPU cores of the benchmark machine poorly used (each step runs the
whole frozen backbone on two images); it is kept, as it is what a Model Maker
user gets, and the training time in the results is what it costs.
"""

import dataclasses
import logging
import random
import tempfile
import time
from pathlib import Path

import numpy as np

from lepton_tf.data.images import find_class_files
from lepton_tf.data.splits import stratified_split
from lepton_tf.evaluate import evaluate_tflite
from lepton_tf.export import metadata
from lepton_tf.export.mediapipe_client import image_files_top1
from lepton_tf.keras import keras, tf
from lepton_tf.models import efficientnet_lite, pretrained
from lepton_tf.run_folder import labels_text

log = logging.getLogger(__name__)

VARIANT = "efficientnet_lite0"
CROP_PADDING = 32  # pixels: evaluation crops 224/(224+32) of the short side (image_preprocessing.py)


@dataclasses.dataclass(frozen=True)
class Recipe:
    """Model Maker's defaults for EFFICIENTNET_LITE0 (where each comes from: the module docstring)."""

    image_size: int = 224  # pixels, square (ModelSpec.input_image_shape)
    mean_rgb: float = 0.0  # ModelSpec.mean_rgb: the model sees (pixel - 0) / 255
    stddev_rgb: float = 255.0  # ModelSpec.stddev_rgb
    dropout: float = 0.2  # ImageClassifierModelOptions.dropout_rate
    l1_regularizer: float = 0.0  # HParams
    l2_regularizer: float = 0.0001  # HParams
    learning_rate: float = 0.001  # HParams; scaled by batch_size / 256
    batch_size: int = 2  # HParams: images a step
    epochs: int = 10  # HParams
    label_smoothing: float = 0.1  # HParams
    decay_samples: int = 10000 * 256  # HParams: images the cosine decays over (at least)
    warmup_epochs: int = 2  # HParams: epochs of linear warm-up
    rho: float = 0.9  # RMSprop (_create_optimizer)
    momentum: float = 0.9  # RMSprop
    epsilon: float = 0.001  # RMSprop
    quantization_steps: int = 500  # representative images for int8 (DEFAULT_QUANTIZATION_STEPS)


class WarmUp(keras.optimizers.schedules.LearningRateSchedule):
    """Model Maker's `model_util.WarmUp`: linear from 0 to `initial_learning_rate`, then `decay_schedule_fn(step)`."""

    def __init__(self, initial_learning_rate, decay_schedule_fn, warmup_steps):
        super().__init__()
        self.initial_learning_rate = initial_learning_rate
        self.decay_schedule_fn = decay_schedule_fn
        self.warmup_steps = warmup_steps

    def __call__(self, step):
        step = tf.cast(step, tf.float32)
        warmup_steps = tf.cast(self.warmup_steps, tf.float32)
        return tf.cond(step < warmup_steps, lambda: self.initial_learning_rate * step / warmup_steps,
                       lambda: self.decay_schedule_fn(step))

    def get_config(self):
        return {"initial_learning_rate": self.initial_learning_rate, "warmup_steps": self.warmup_steps,
                "decay_schedule_fn": keras.optimizers.schedules.serialize(self.decay_schedule_fn)}


def learning_rate_schedule(recipe, steps_per_epoch):
    """Model Maker's learning-rate rule (`ImageClassifier._create_optimizer`).

    Args:
      recipe: a `Recipe`.
      steps_per_epoch: optimizer steps an epoch (training images // batch size).

    Returns:
      A schedule: step → learning rate.
    """
    initial = recipe.learning_rate * recipe.batch_size / 256
    decay_steps = max(steps_per_epoch * recipe.epochs, recipe.decay_samples // recipe.batch_size)
    schedule = keras.optimizers.schedules.CosineDecay(initial, decay_steps, alpha=0.0)
    warmup_steps = recipe.warmup_epochs * steps_per_epoch
    return WarmUp(initial, schedule, warmup_steps) if warmup_steps else schedule


def load_image(path):
    """Decodes a JPEG or PNG file to uint8 RGB, as `vision/core/image_utils.load_image` does."""
    raw = tf.io.read_file(path)
    return tf.cond(tf.io.is_jpeg(raw), lambda: tf.io.decode_jpeg(raw, channels=3),
                   lambda: tf.io.decode_png(raw, channels=3))


def _resize(image, size):
    return tf.compat.v1.image.resize([image], [size, size], tf.image.ResizeMethod.BILINEAR)[0]


def centre_crop(image, size):
    """Model Maker's evaluation view: the centred square of side size/(size+32) x short side, resized to size."""
    shape = tf.shape(image)
    height, width = shape[0], shape[1]
    side = tf.cast(size / (size + CROP_PADDING) * tf.cast(tf.minimum(height, width), tf.float32), tf.int32)
    image = tf.image.crop_to_bounding_box(image, (height - side + 1) // 2, (width - side + 1) // 2, side, side)
    return _resize(image, size)


def random_crop(image, size):
    """Model Maker's training view: a random region (8-100% of the area, aspect 3/4-4/3), resized to size.

    After 10 failed attempts `sample_distorted_bounding_box` returns the whole
    image; Model Maker then takes the evaluation view instead.
    """
    begin, extent, _ = tf.image.sample_distorted_bounding_box(
        tf.shape(image), bounding_boxes=tf.constant([0.0, 0.0, 1.0, 1.0], shape=[1, 1, 4]),
        min_object_covered=0.1, aspect_ratio_range=(3 / 4, 4 / 3), area_range=(0.08, 1.0), max_attempts=10,
        use_image_if_no_bounding_boxes=True)
    top, left, _ = tf.unstack(begin)
    height, width, _ = tf.unstack(extent)
    crop = tf.image.crop_to_bounding_box(image, top, left, height, width)
    whole = tf.reduce_sum(tf.cast(tf.equal(tf.shape(image), tf.shape(crop)), tf.int32)) >= 3
    return tf.cond(whole, lambda: centre_crop(image, size), lambda: _resize(crop, size))


def preprocess(image, recipe, training):
    """Model Maker's `Preprocessor` with augmentation: the view, then (pixel - mean) / std (float32, [0, 1])."""
    if training:
        image = tf.image.random_flip_left_right(random_crop(image, recipe.image_size))
    else:
        image = centre_crop(image, recipe.image_size)
    image = tf.reshape(tf.cast(image, tf.float32), [recipe.image_size, recipe.image_size, 3])
    return (image - recipe.mean_rgb) / recipe.stddev_rgb


def dataset(split, num_classes, recipe, training, batch_size, drop_remainder=True):
    """`Dataset.gen_tf_dataset`: decode → preprocess → one-hot, in file order (no shuffling), batched."""
    files, labels = split
    pairs = tf.data.Dataset.from_tensor_slices(([str(f) for f in files], np.asarray(labels, np.int64)))
    pairs = pairs.map(lambda path, label: (preprocess(load_image(path), recipe, training),
                                           tf.one_hot(label, num_classes)), num_parallel_calls=tf.data.AUTOTUNE)
    return pairs.batch(batch_size, drop_remainder=drop_remainder).prefetch(tf.data.AUTOTUNE)


def build_model(num_classes, recipe):
    """Frozen ImageNet EfficientNet-Lite0 feature vector → Dropout → Dense softmax (L1/L2), taking [0, 1] images."""
    inputs = keras.Input((recipe.image_size, recipe.image_size, 3), name="image")
    # What the TF Hub module does first: [0, 1] → (255 x - 127) / 128, the Lite checkpoints' input.
    normalised = keras.layers.Rescaling(255.0 / 128.0, offset=-127.0 / 128.0, name="hub_input")(inputs)
    features = keras.layers.GlobalAveragePooling2D(name="pool")(efficientnet_lite.features(normalised, VARIANT))
    x = keras.layers.Dropout(recipe.dropout, name="dropout")(features)
    outputs = keras.layers.Dense(num_classes, activation="softmax", name="probabilities",
                                 kernel_regularizer=keras.regularizers.l1_l2(recipe.l1_regularizer,
                                                                             recipe.l2_regularizer))(x)
    model = keras.Model(inputs, outputs, name="model_maker_efficientnet_lite0")
    pretrained.load_backbone_weights(model, VARIANT)
    for layer in model.layers:
        layer.trainable = layer.name in ("dropout", "probabilities")  # do_fine_tuning=False
    return model


def train(model, train_split, val_split, num_classes, recipe, verbose=2):
    """Compiles and fits as `Classifier._train_model` does; returns the seconds `fit` took.

    Raises:
      ValueError: fewer training images than one batch (Model Maker refuses too).
    """
    steps_per_epoch = len(train_split[0]) // recipe.batch_size
    if steps_per_epoch == 0:
        raise ValueError(f"{len(train_split[0])} training images are fewer than one batch of {recipe.batch_size}")
    optimizer = keras.optimizers.RMSprop(learning_rate_schedule(recipe, steps_per_epoch), rho=recipe.rho,
                                         momentum=recipe.momentum, epsilon=recipe.epsilon)
    model.compile(optimizer=optimizer, metrics=["accuracy"],
                  loss=keras.losses.CategoricalCrossentropy(label_smoothing=recipe.label_smoothing))
    training = dataset(train_split, num_classes, recipe, True, recipe.batch_size).take(steps_per_epoch)
    validation = dataset(val_split, num_classes, recipe, False, recipe.batch_size) if val_split[0] else None
    start = time.perf_counter()
    model.fit(training, epochs=recipe.epochs, validation_data=validation, verbose=verbose)
    return time.perf_counter() - start


def to_tflite(model, representative=None):
    """`model_util.convert_to_tflite`: SavedModel → TFLite bytes; full-integer when `representative` is given.

    Args:
      model: the trained Keras model.
      representative: for int8 (`QuantizationConfig.for_int8`), a dataset of
        (image batch of one, label) pairs, already cut to its 500 steps.
    """
    with tempfile.TemporaryDirectory() as folder:
        model.save(folder, include_optimizer=False, save_format="tf")
        converter = tf.lite.TFLiteConverter.from_saved_model(folder)
        if representative is not None:
            converter.optimizations = [tf.lite.Optimize.DEFAULT]
            converter.representative_dataset = lambda: ([images] for images, _ in representative)
            converter.inference_input_type = tf.uint8
            converter.inference_output_type = tf.uint8
            converter.experimental_new_quantizer = False
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS]  # convert_to_tflite's default
        return converter.convert()


def with_metadata(content, class_names, recipe, quantized):
    """Attaches what Model Maker's `image_classifier` metadata writer writes: normalisation (0, 255) and labels."""
    from mediapipe.tasks.metadata import metadata_schema_py_generated as metadata_fb
    from mediapipe.tasks.metadata import schema_py_generated as schema_fb
    from mediapipe.tasks.python.metadata.metadata_writers import metadata_info

    image = metadata_info.InputImageTensorMd(
        name="image", description="Input image to be processed.", norm_mean=[recipe.mean_rgb],
        norm_std=[recipe.stddev_rgb], color_space_type=metadata_fb.ColorSpaceType.RGB,
        tensor_type=schema_fb.TensorType.UINT8 if quantized else schema_fb.TensorType.FLOAT32)
    described = metadata._model_metadata(  # the project's writer, with Model Maker's input description
        "ImageClassifier", f"Model Maker recipe, {len(class_names)} classes", "1", image.create_metadata())
    return metadata.attach(content, described, {metadata.LABELS_FILE: labels_text(class_names).encode("utf-8")})


def export(model, out_dir, class_names, train_split, recipe):
    """Writes `model.tflite` (float32) and `model_int8.tflite`, both with metadata; returns {name: path}."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    calibration = dataset(train_split, len(class_names), recipe, False, 1, False).take(recipe.quantization_steps)
    paths = {}
    for name, representative in (("model.tflite", None), ("model_int8.tflite", calibration)):
        log.info("Model Maker recipe: exporting %s", name)
        content = with_metadata(to_tflite(model, representative), class_names, recipe, representative is not None)
        paths[name] = out_dir / name
        paths[name].write_bytes(content)
    return paths


def evaluate(paths, model, test_split, class_names, recipe, latency_runs=50, mediapipe_examples=None):
    """Measures each file as the chain measures its own: the test images, then MediaPipe on the original files.

    The decoded test images get Model Maker's evaluation view (its
    `evaluate`); MediaPipe's ImageClassifier gets the full-size files and
    resizes them itself, as on a phone.

    Returns:
      (Keras test accuracy, {file name: figures}).
    """
    files, labels = test_split
    labels = np.asarray(labels)
    examples = np.concatenate([images.numpy() for images, _ in
                               dataset(test_split, len(class_names), recipe, False, 32, False)])
    reference = np.argmax(model.predict(examples, batch_size=32, verbose=0), axis=-1)
    count = len(files) if mediapipe_examples is None else min(mediapipe_examples, len(files))
    figures = {}
    for name, path in paths.items():
        log.info("Model Maker recipe: evaluating %s on %d test images", name, len(labels))
        entry = evaluate_tflite(path, examples, labels, reference, latency_runs)
        names = image_files_top1(path, files[:count], "squash")
        entry.update({
            "mediapipe_accuracy": round(float(np.mean([n == class_names[i] for n, i in zip(names, labels)])), 5),
            "mediapipe_agreement": round(float(np.mean([n == class_names[i] for n, i in zip(names, reference)])), 5),
            "mediapipe_examples": count, "mediapipe_input": "the original test files"})
        figures[name] = entry
    return float(np.mean(reference == labels)), figures


def folder_splits(folder, val_fraction, seed):
    """Class names and (files, labels) of train, validation and test, split as the chain splits them.

    Validation is carved from train/ per class with the chain's own rule
    (`stratified_split`, seed + 1), so both recipes train on the same images;
    the training list is then shuffled once, as `Dataset.from_folder` does.
    """
    folder = Path(folder)
    per_class = find_class_files(folder / "train")
    class_names = sorted(per_class)
    files = [path for name in class_names for path in per_class[name][0]]
    labels = np.array([label for label, name in enumerate(class_names) for _ in per_class[name][0]])
    kept, carved = stratified_split(labels, val_fraction, seed + 1)
    order = list(kept)
    random.Random(seed).shuffle(order)
    test = find_class_files(folder / "test")
    test_files = [path for name in class_names for path in test[name][0]]
    test_labels = [label for label, name in enumerate(class_names) for _ in test[name][0]]
    return (class_names, ([files[i] for i in order], labels[order].tolist()),
            ([files[i] for i in carved], labels[carved].tolist()), (test_files, test_labels))


def run(folder, out_dir, recipe=Recipe(), seed=0, val_fraction=0.1, latency_runs=50, mediapipe_examples=None,
        verbose=2):
    """Model Maker's recipe on an image folder with train/ and test/: train, export, measure.

    Args:
      folder: the image folder (train/<class>/…, test/<class>/…).
      out_dir: where the two `.tflite` files are written.
      recipe: the defaults (a smaller `Recipe` for quick checks).
      seed: the validation carve, the file order and TensorFlow's random ops.
      val_fraction: share of each class of train/ kept for validation (the chain's default).
      latency_runs: timed single-image invocations a file and thread count.
      mediapipe_examples: test files given to MediaPipe (None: all).
      verbose: Keras progress output.

    Returns:
      The record: {"float": {accuracy, train_seconds, epochs, params}, "wall_seconds", "files": {name: figures}}.
    """
    keras.utils.set_random_seed(seed)
    class_names, train_split, val_split, test_split = folder_splits(folder, val_fraction, seed)
    log.info("Model Maker recipe: %d training, %d validation, %d test images, %d classes", len(train_split[0]),
             len(val_split[0]), len(test_split[0]), len(class_names))
    start = time.perf_counter()
    model = build_model(len(class_names), recipe)
    seconds = train(model, train_split, val_split, len(class_names), recipe, verbose)
    paths = export(model, out_dir, class_names, train_split, recipe)
    wall = time.perf_counter() - start
    accuracy, files = evaluate(paths, model, test_split, class_names, recipe, latency_runs, mediapipe_examples)
    return {"float": {"accuracy": round(accuracy, 5), "train_seconds": round(seconds, 1), "epochs": recipe.epochs,
                      "params": model.count_params(),
                      "steps": len(train_split[0]) // recipe.batch_size * recipe.epochs},
            "wall_seconds": round(wall, 1), "files": files}
