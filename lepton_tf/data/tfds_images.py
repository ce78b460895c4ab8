"""TFDS image data sets (`DATA=tfds:NAME`) decoded into the same splits as folders."""

import numpy as np

from lepton_tf.data.images import resize_uint8
from lepton_tf.data.splits import ImageData, ImageSplit, fill_missing_splits
from lepton_tf.errors import DataError


def load_tfds_images(name, config):
    """Loads `tfds:NAME` through `tensorflow_datasets.load`.

    Uses the `train` split and `test` (or `validation`) as test; validation is
    carved from train unless the data set has both `validation` and `test`.

    Raises:
      DataError: unknown name, no label feature, or no train split.
    """
    info = tfds_info(name)
    if "label" not in info.features or not hasattr(info.features["label"], "names"):
        raise DataError(f"tfds:{name} has no class-label feature named 'label'")
    # Split metadata is empty until the data set is prepared (and under
    # `tfds.testing.mock_data`); the standard names are tried then.
    splits = set(info.splits.keys()) or {"train", "test"}
    if "train" not in splits:
        raise DataError(f"tfds:{name} has no 'train' split (it has {sorted(splits)})")
    test_name = "test" if "test" in splits else ("validation" if "validation" in splits else None)
    loaded = {"train": _read_split(name, "train", config.image_size, config.resize)}
    if test_name:
        loaded["test"] = _read_split(name, test_name, config.image_size, config.resize)
    if test_name == "test" and "validation" in splits:
        loaded["val"] = _read_split(name, "validation", config.image_size, config.resize)
    return ImageData(list(info.features["label"].names), *fill_missing_splits(loaded, config))


def tfds_info(name):
    """The `DatasetInfo` of `tfds:NAME` (built from code; nothing is downloaded).

    Raises:
      DataError: TFDS has no data set of that name.
    """
    import tensorflow_datasets as tfds

    try:
        return tfds.builder(name).info
    except tfds.core.registered.DatasetNotFoundError:
        raise DataError(f"unknown TFDS data set 'tfds:{name}' (see `tfds.list_builders()`)") from None


def _read_split(name, split, size, resize="squash"):
    import tensorflow_datasets as tfds

    try:
        dataset = tfds.load(name, split=split, as_supervised=True, shuffle_files=False)
    except Exception as error:  # TFDS raises many types for "not downloaded / no internet"
        raise DataError(f"cannot load tfds:{name} split '{split}': {type(error).__name__}: {error}") from None
    images, labels = [], []
    for image, label in tfds.as_numpy(dataset):
        if image.ndim == 2 or image.shape[-1] == 1:
            image = np.repeat(image.reshape(image.shape[0], image.shape[1], 1), 3, axis=-1)
        images.append(resize_uint8(image[..., :3].astype(np.uint8), size, resize))
        labels.append(int(label))
    paths = [f"tfds:{name}/{split}/{i}" for i in range(len(labels))]
    array = np.stack(images) if images else np.zeros((0, size, size, 3), np.uint8)
    return ImageSplit(array, np.array(labels, np.int32), paths)
