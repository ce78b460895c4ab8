"""Turns `data.source` (a folder, `tfds:NAME` or `digits`) into decoded splits."""

from pathlib import Path

from lepton_tf.data.digits import BUILTIN_NAME, write_digits_folder
from lepton_tf.data.images import load_image_folder
from lepton_tf.data.tfds_images import load_tfds_images
from lepton_tf.errors import ConfigError, DataError


def resolve_task(config):
    """Returns the task ('image') that `data.task` names or `data.source` implies.

    Raises:
      ConfigError: `data.task` names a task this version does not handle.
    """
    if config.task not in ("auto", "image"):
        raise ConfigError(f"data.task '{config.task}' is not supported")
    return "image"


def load_data(config, run_dir):
    """Loads the data set that `config.source` names.

    Args:
      config: a `DataConfig`.
      run_dir: the run folder; the built-in digits are written under `run_dir/data/`.

    Returns:
      An `ImageData`.

    Raises:
      DataError: the source is missing, empty or unusable (see the loaders).
    """
    source = config.source.strip()
    if not source:
        raise DataError("data.source is empty: give a folder, tfds:NAME or 'digits'")
    if source.startswith("tfds:"):
        return load_tfds_images(source[len("tfds:"):], config)
    if source == BUILTIN_NAME and not Path(source).exists():
        return load_image_folder(write_digits_folder(Path(run_dir) / "data" / BUILTIN_NAME), config)
    return load_image_folder(source, config)
