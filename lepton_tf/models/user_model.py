"""`model.path`: the user's own Keras model in place of a registry model.

The file must hold a functional (or Sequential) tf_keras model that takes
normalised images [N, H, W, 3] and ends in a softmax over the data set's
classes. It is loaded with Keras' safe mode, so a `.keras` file's `Lambda`
layers are refused rather than run; a legacy `.h5` file has no safe mode
in tf_keras, so only point `model.path` at `.h5` files you trust. Only
weights are ever saved into the run folder: later stages load this file
again for the architecture.
"""

from pathlib import Path

from lepton_tf.errors import ConfigError, ModelFileError

SUFFIXES = (".keras", ".h5")


def load_user_model(path):
    """Loads the model file at `path` (not compiled).

    Raises:
      ConfigError: the path does not exist or is not a .keras/.h5 file.
      ModelFileError: the file cannot be read as a Keras model.
    """
    from lepton_tf.keras import keras

    path = Path(path).expanduser()
    if not path.is_file():
        raise ConfigError(f"model.path: {path} does not exist")
    if path.suffix.lower() not in SUFFIXES:
        raise ConfigError(f"model.path: {path} must be a Keras model file ({' or '.join(SUFFIXES)})")
    try:
        if path.suffix.lower() == ".keras":
            return keras.models.load_model(path, compile=False, safe_mode=True)
        return keras.models.load_model(path, compile=False)
    except Exception as error:  # Keras raises many types for a bad file; all mean the same here
        said = str(error).splitlines()[0][:300] if str(error) else type(error).__name__
        raise ModelFileError(f"model.path: cannot load {path} as a tf_keras model ({said})") from None


def input_size(path):
    """The square input side of the model at `path`, or None when it takes any size."""
    shape = load_user_model(path).input_shape
    height, width = shape[1], shape[2]
    if height is None or width is None:
        return None
    if height != width:
        raise ConfigError(f"model.path: the model takes {height}x{width} images; lepton feeds square ones")
    return int(height)


def build_user_model(path, input_shape, num_classes):
    """The model at `path`, checked against the data: its input takes `input_shape`, its output `num_classes`.

    Raises:
      ConfigError: the model takes other images, is not a softmax classifier over `num_classes`,
        or is subclassed (TF-MOT can neither prune nor quantize those).
    """
    from lepton_tf.keras import keras

    model = load_user_model(path)
    if not isinstance(model, (keras.Sequential,)) and type(model).__name__ != "Functional":
        raise ConfigError(f"model.path: {path} holds a subclassed model ({type(model).__name__}); "
                          "TF-MOT needs a functional or Sequential model")
    expected = tuple(input_shape)
    given = tuple(model.input_shape[1:])
    if len(given) != 3 or any(g not in (None, e) for g, e in zip(given, expected)):
        raise ConfigError(f"model.path: the model takes inputs of shape {given}, the data gives {expected} "
                          f"(set data.image_size to the model's size)")
    if model.output_shape[-1] != num_classes:
        raise ConfigError(f"model.path: the model has {model.output_shape[-1]} outputs, the data "
                          f"{num_classes} classes")
    activation = getattr(model.layers[-1], "activation", None)
    if getattr(activation, "__name__", "") != "softmax":
        raise ConfigError(f"model.path: the model's last layer ({model.layers[-1].name}) must be a softmax "
                          f"(probabilities over the {num_classes} classes)")
    return model

