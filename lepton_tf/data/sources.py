"""Turns `data.source` (a folder, `tfds:NAME` or `digits`) into decoded splits."""

from pathlib import Path

from lepton_tf.data.digits import BUILTIN_NAME, write_digits_folder
from lepton_tf.data.images import load_image_folder
from lepton_tf.data.text import is_text_folder, load_text_folder
from lepton_tf.errors import ConfigError, DataError


def resolve_task(config):
    """'image' or 'text': `data.task`, or what `data.source` holds when it is 'auto'.

    Raises:
      DataError: a tfds source with neither an image nor a text feature.
    """
    if config.task != "auto":
        return config.task
    source = config.source.strip()
    if source.startswith("tfds:"):
        from lepton_tf.data.tfds_images import tfds_info
        from lepton_tf.data.tfds_text import text_feature

        info = tfds_info(source[len("tfds:"):])
        if "image" in info.features:
            return "image"
        if text_feature(info):
            return "text"
        raise DataError(f"{source} has neither an 'image' nor a text feature")
    return "text" if Path(source).is_dir() and is_text_folder(source) else "image"


def load_data(config, run_dir):
    """Loads the data set that `config.source` names.

    Args:
      config: a `DataConfig`.
      run_dir: the run folder; the built-in digits are written under `run_dir/data/`, and
        `cache: disk` keeps decoded images under `run_dir/cache/images/`.

    Returns:
      An `ImageData` or a `TextData`.

    Raises:
      DataError: the source is missing, empty or unusable (see the loaders).
      ConfigError: `data.task` contradicts the source.
    """
    source = config.source.strip()
    if not source:
        raise DataError("data.source is empty: give a folder, tfds:NAME or 'digits'")
    return require_usable(_load(source, config, run_dir), source)


def require_usable(data, source):
    """Returns `data` when a classifier can be trained and tested on it.

    Raises:
      DataError: fewer than two classes, a class name that cannot be one line of
        labels.txt, or no training or test examples.
    """
    if len(data.class_names) < 2:
        raise DataError(f"{source} has {len(data.class_names)} class ({', '.join(data.class_names)}): "
                        f"a classifier needs at least two")
    broken = [name for name in data.class_names if not name.strip() or any(c in name for c in "\r\n")]
    if broken:
        raise DataError(f"{source}: class names {broken!r} are empty or hold a line break; labels.txt and the "
                        f"TFLite label file hold one name a line: rename them")
    if len(data.train) == 0:
        raise DataError(f"{source} has no training examples")
    if len(data.test) == 0:
        raise DataError(f"{source} is too small to carve a test split (data.test_fraction); add examples "
                        f"or a test folder/file")
    return data


def _load(source, config, run_dir):
    task = resolve_task(config)
    if task == "image" and config.image_size == 0:
        raise ConfigError("data.image_size is 0 (the model's native size), which `lepton train` resolves from the "
                          "model; give a size in pixels to load images directly")
    if source.startswith("tfds:"):
        from lepton_tf.data.tfds_images import load_tfds_images
        from lepton_tf.data.tfds_text import load_tfds_text

        return (load_tfds_text if task == "text" else load_tfds_images)(source[len("tfds:"):], config)
    if source == BUILTIN_NAME and not Path(source).exists():
        source = write_digits_folder(Path(run_dir) / "data" / BUILTIN_NAME)
    if task == "text":
        if not is_text_folder(source):
            raise ConfigError(f"data.task is 'text' but {source} has no train.tsv or train.csv")
        return load_text_folder(source, config)
    return load_image_folder(source, config, Path(run_dir) / "cache" / "images")
