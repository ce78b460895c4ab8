"""Photos: the automatic model choice, transfer learning on EfficientNet-Lite, resize modes, `model.path`."""

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from lepton_tf import config as config_lib
from lepton_tf.cli import main
from lepton_tf.errors import ConfigError, ModelFileError
from lepton_tf.keras import keras, tf
from lepton_tf.models.choice import PHOTO_DEFAULTS, choose

from conftest import CLASS_COLOURS, TINY_SETTINGS, make_image_folder

SHAPES = [(96, 72), (80, 80), (72, 128)]  # (width, height): phone-like aspect ratios, small enough to be quick


def make_photo_folder(root, train=10, test=4):
    """Photo-shaped files (several sizes and aspect ratios), each class its own colour and stripes."""
    rng = np.random.default_rng(0)
    for part, count in (("train", train), ("test", test)):
        for label, (name, colour) in enumerate(CLASS_COLOURS.items()):
            for index in range(count):
                width, height = SHAPES[index % len(SHAPES)]
                pixels = np.clip(np.array(colour) + rng.normal(0, 30, (height, width, 3)), 0, 255)
                pixels[:, (label * 7) % width::9] = 255 - pixels[:, (label * 7) % width::9]
                path = Path(root) / part / name / f"{index:03d}.jpg"
                path.parent.mkdir(parents=True, exist_ok=True)
                Image.fromarray(pixels.astype(np.uint8)).save(path, quality=92)
    return Path(root)


@pytest.fixture(scope="module")
def photo_folder(tmp_path_factory):
    return make_photo_folder(tmp_path_factory.mktemp("photos"))


def test_photo_sized_folders_get_pretrained_efficientnet_at_its_native_size(photo_folder):
    overrides = [f"data.source={photo_folder}", "train.epochs=3"]
    config, choice = choose(config_lib.load(None, overrides), config_lib.given_keys(None, overrides))
    assert (config.model.name, config.model.pretrained, config.data.image_size) == ("efficientnet_lite0",
                                                                                     "imagenet", 224)
    assert "photos" in choice["rule"] and "72 px" in choice["rule"]  # the median short side, measured
    assert config.train.epochs == 3  # given: the photo default never replaces it
    assert "train.epochs" not in choice["photo_defaults"]
    assert config.train.head_epochs == PHOTO_DEFAULTS["train.head_epochs"]


def test_small_images_keep_the_from_scratch_resnet(tmp_path):
    folder = make_image_folder(tmp_path / "thumbs", per_class=3, size=16)
    config, choice = choose(config_lib.load(None, [f"data.source={folder}"]), set())
    assert (config.model.name, config.data.image_size) == ("resnet", 32)
    assert "small images" in choice["rule"]
    assert config.train.head_epochs == 0  # no photo defaults


def test_a_named_model_is_kept_and_sized_natively(photo_folder):
    config, choice = choose(config_lib.load(None, [f"data.source={photo_folder}", "model.name=efficientnet_lite2"]))
    assert (config.model.name, config.data.image_size) == ("efficientnet_lite2", 260)
    assert choice["rule"] == "model.name given"


@pytest.fixture(scope="module")
def photo_run(tmp_path_factory, photo_folder):
    """The photo defaults end to end at 64x64: two-phase transfer, pruning, PQAT, every export, MediaPipe."""
    run_dir = tmp_path_factory.mktemp("runs") / "photos"
    settings = ["data.image_size=64", "data.val_fraction=0.2", "train.head_epochs=2", "train.epochs=1",
                "train.verbose=0", "optimize.sparsity=0.5", "optimize.prune_epochs=1",
                "export.latency_runs=2", "export.representative_examples=16", "export.eval_batch_size=16"]
    sets = [arg for setting in [f"data.source={photo_folder}", *settings] for arg in ("--set", setting)]
    assert main(["train", str(run_dir), *sets]) == 0
    assert main(["quantize", str(run_dir)]) == 0
    return run_dir


@pytest.mark.slow  # shares the photo run (about 5 minutes: EfficientNet-Lite0 at 224 px)
def test_photo_run_trains_the_head_then_the_top_blocks_on_cached_features(photo_run):
    card = json.loads((photo_run / "model_card.json").read_text())
    assert card["model"]["name"] == "efficientnet_lite0" and card["model"]["choice"]["pretrained"] == "imagenet"
    transfer = card["model"]["transfer"]
    assert transfer["frozen_output_cached"] and set(transfer["phases"]) == {"head", "fine_tune"}
    assert transfer["phases"]["head"]["trainable_weights"] < transfer["phases"]["fine_tune"]["trainable_weights"]
    assert card["input"]["normalization"]["mean"] == [127.0] * 3 and card["input"]["resize"] == "squash"
    assert card["stages"]["pruned"]["sparsity"] > 0.4 and card["stages"]["qat"]["source"] == "pruned"


@pytest.mark.slow  # shares the photo run
def test_photo_run_exports_every_file_and_measures_mediapipe_on_the_original_files(photo_run):
    artifacts = json.loads((photo_run / "model_card.json").read_text())["artifacts"]
    tflite = {path: entry for path, entry in artifacts.items() if path.endswith(".tflite")}
    assert len(tflite) == 4 and all(entry["metadata"] for entry in tflite.values())
    for entry in tflite.values():
        assert entry["mediapipe_input"] == "the original test files"
        assert entry["mediapipe_examples"] == 12 and 0 <= entry["mediapipe_accuracy"] <= 1
        # MediaPipe resizes the full-size file itself; the file gave the same answers on our resized pixels.
        assert entry["mediapipe_agreement"] >= 11 / 12
    assert artifacts["tflite/float32.tflite"]["agreement"] == 1.0  # same pixels, same float model
    saved = next(entry for path, entry in artifacts.items() if path.startswith("saved_model"))
    assert saved["agreement"] >= 0.9  # the SavedModel decodes the full-size files itself


def test_qat_trains_only_what_the_float_stage_trained():
    from lepton_tf.models.efficientnet_lite import efficientnet_lite
    from lepton_tf.optimize.fold import fold_batch_norms
    from lepton_tf.optimize.qat import quantize_for_training
    from lepton_tf.transfer import freeze_untrained_part

    folded, _ = fold_batch_norms(efficientnet_lite((32, 32, 3), 3, "efficientnet_lite0"))
    quantized = quantize_for_training(folded, preserve_sparsity=False)
    assert freeze_untrained_part(quantized, 5) > 0
    trainable = {getattr(layer, "layer", layer).name for layer in quantized.layers if layer.trainable}
    assert {"block11_expand_conv", "block15_project_conv", "top_conv", "logits"} <= trainable
    assert not {"stem_conv", "block0_dw", "block10_project_conv"} & trainable


def test_resize_modes_keep_the_aspect_ratio_or_not():
    from lepton_tf.data.images import resize_uint8

    wide = np.zeros((10, 30, 3), np.uint8)
    wide[:, :10], wide[:, 10:20], wide[:, 20:] = 50, 150, 250  # left, centre, right thirds
    assert set(np.unique(resize_uint8(wide, 10, "crop"))) == {150}  # the centred square only
    padded = resize_uint8(wide, 30, "pad")
    assert padded[:10].max() == 0 and padded[-10:].max() == 0 and padded[15, 15, 0] == 150  # black bars
    squashed = resize_uint8(wide, 9, "squash")
    assert squashed[4, 0, 0] == 50 and squashed[4, 8, 0] == 250  # everything, stretched


@pytest.mark.parametrize("height, width, size", [(318, 424, 224), (640, 480, 96), (8, 8, 32)])
def test_resizing_samples_what_mediapipe_samples(height, width, size):
    """MediaPipe's CPU preprocessing is OpenCV's bilinear warpPerspective from the frame's corners to the tensor's."""
    import cv2

    from lepton_tf.data.images import resize_uint8

    image = np.random.default_rng(0).integers(0, 256, (height, width, 3)).astype(np.uint8)
    corners = np.float32([[0, height], [0, 0], [width, 0], [width, height]])
    matrix = cv2.getPerspectiveTransform(corners, np.float32([[0, size], [0, 0], [size, 0], [size, size]]))
    mediapipe = cv2.warpPerspective(image.astype(np.float32), matrix, (size, size), flags=cv2.INTER_LINEAR,
                                    borderMode=cv2.BORDER_REPLICATE)
    ours = resize_uint8(image, size).astype(np.float32)
    assert np.abs(ours - mediapipe).max() <= 0.51  # ours is rounded to uint8, as stored and as uint8 files take


def test_the_saved_model_resizes_as_the_loader_did(tmp_path):
    from lepton_tf.data.images import load_image_folder
    from lepton_tf.data.pipeline import Normalization
    from lepton_tf.data.preprocessing import ImagePreprocessing
    from lepton_tf.export.saved_model import ImageClassifierModule

    folder = make_photo_folder(tmp_path / "photos", train=2, test=1)
    data_config = config_lib.load(None, ["data.image_size=20", "data.resize=crop"]).data
    loaded = load_image_folder(folder, data_config)
    probe = keras.Sequential([keras.Input((20, 20, 3)), keras.layers.Flatten()])
    preprocessing = ImagePreprocessing(Normalization([0.0] * 3, [1.0] * 3), 20, "crop")
    module = ImageClassifierModule(probe, loaded.class_names, preprocessing)
    served = module.serve(tf.constant([Path(loaded.test.paths[0]).read_bytes()]))["probabilities"].numpy()
    np.testing.assert_array_equal(served[0], loaded.test.images[0].reshape(-1))  # the probe passes pixels through


def small_user_model(path, nested=False):
    inputs = keras.Input((12, 12, 3))
    x = keras.layers.Conv2D(4, 3, padding="same", use_bias=False)(inputs)
    x = keras.layers.BatchNormalization()(x)
    x = keras.layers.ReLU()(x)
    if nested:
        x = keras.Sequential([keras.layers.Conv2D(4, 1)], name="inner_block")(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    outputs = keras.layers.Dense(3, activation="softmax")(x)
    model = keras.Model(inputs, outputs, name="mine")
    model.save(path)
    return path


def test_your_own_model_goes_through_the_whole_chain(tmp_path, image_folder):
    model_file = small_user_model(tmp_path / "mine.keras")
    settings = [s for s in TINY_SETTINGS if not s.startswith("model.")] + [f"model.path={model_file}"]
    run_dir = tmp_path / "run"
    sets = [arg for setting in [f"data.source={image_folder}", *settings] for arg in ("--set", setting)]
    assert main(["train", str(run_dir), *sets]) == 0
    assert main(["quantize", str(run_dir)]) == 0
    card = json.loads((run_dir / "model_card.json").read_text())
    assert card["model"]["name"] == "path:mine.keras"
    assert {"float", "pruned", "qat"} <= set(card["stages"]) and len(card["artifacts"]) == 5


def test_layers_tfmot_cannot_quantize_are_named(tmp_path, caplog):
    from lepton_tf.models.user_model import load_user_model
    from lepton_tf.optimize.qat import quantize_for_training, unquantizable_layers

    model = load_user_model(small_user_model(tmp_path / "nested.keras", nested=True))
    assert unquantizable_layers(model) == ["inner_block (Sequential)"]
    quantize_for_training(model, preserve_sparsity=False)  # the nested model stays float in QAT
    assert "cannot quantize inner_block (Sequential)" in caplog.text


def test_a_keras_file_with_code_is_refused_not_run(tmp_path):
    from lepton_tf.models.user_model import load_user_model

    marker = tmp_path / "ran"
    inputs = keras.Input((4,))
    outputs = keras.layers.Lambda(lambda x, path=str(marker): (open(path, "w").close(), x)[1])(inputs)  # writes
    keras.Model(inputs, outputs).save(tmp_path / "code.keras")
    marker.unlink()  # building the model ran it once
    with pytest.raises(ModelFileError, match="code.keras"):
        load_user_model(tmp_path / "code.keras")
    assert not marker.exists()


def test_model_path_errors_are_one_line(tmp_path, image_folder):
    from lepton_tf.models.user_model import build_user_model

    with pytest.raises(ConfigError, match="does not exist"):
        build_user_model(tmp_path / "missing.keras", (12, 12, 3), 3)
    with pytest.raises(ConfigError, match="outputs, the data 5 classes"):
        build_user_model(small_user_model(tmp_path / "three.keras"), (12, 12, 3), 5)
    with pytest.raises(ConfigError, match="takes inputs of shape"):
        build_user_model(tmp_path / "three.keras", (32, 32, 3), 3)
