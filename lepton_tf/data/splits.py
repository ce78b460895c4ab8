"""Decoded splits shared by every image source, and seeded per-class splitting."""

import dataclasses
import logging

import numpy as np

from lepton_tf.data import disk_cache

log = logging.getLogger(__name__)
MAX_NAMED_SKIPS = 20  # places listed in the log; the rest are counted


@dataclasses.dataclass
class ImageSplit:
    """One split held in memory, decoded once at load time.

    Attributes:
      images: uint8 array [N, H, W, 3], RGB, already at the model's input size.
      labels: int32 array [N], indices into the data set's class names.
      paths: where each image came from (file path or `tfds:NAME/split/index`).
    """

    images: np.ndarray
    labels: np.ndarray
    paths: list

    def __len__(self):
        return len(self.labels)

    def take(self, indices):
        """Returns a new split holding the examples at `indices`."""
        indices = np.asarray(indices, dtype=np.int64)
        return ImageSplit(disk_cache.gather(self.images, indices), self.labels[indices],
                          [self.paths[i] for i in indices])


@dataclasses.dataclass
class ImageData:
    """A whole image data set: class names, three splits and what was skipped."""

    class_names: list
    train: ImageSplit
    val: ImageSplit
    test: ImageSplit
    skipped: list = dataclasses.field(default_factory=list)  # (path, reason) pairs

    @property
    def image_shape(self):
        return tuple(int(d) for d in self.train.images.shape[1:])


def stratified_split(labels, fraction, seed):
    """Splits indices so each class gives `fraction` of its examples to the second part.

    Deterministic given `seed`; a class keeps at least one example in the first
    part, and gets at least one in the second when `fraction` > 0 and it has two.

    Returns:
      (first_indices, second_indices), each sorted.
    """
    rng = np.random.default_rng(seed)
    first, second = [], []
    for label in np.unique(labels):
        members = np.flatnonzero(labels == label)
        rng.shuffle(members)
        count = int(round(len(members) * fraction))
        if fraction > 0 and len(members) > 1:
            count = min(max(count, 1), len(members) - 1)
        second.extend(members[:count])
        first.extend(members[count:])
    return np.sort(np.array(first, dtype=np.int64)), np.sort(np.array(second, dtype=np.int64))


def carve(split, fraction, seed):
    """Returns (rest, carved): `fraction` of each class of `split` moved to `carved`."""
    rest, carved = stratified_split(split.labels, fraction, seed)
    return split.take(rest), split.take(carved)


def fill_missing_splits(splits, config):
    """Carves test (then validation) from train when the source has none.

    Args:
      splits: {'train': …, optionally 'val' and 'test'}; updated in place.
      config: a `DataConfig` (test_fraction, val_fraction, seed).

    Returns:
      (train, val, test).
    """
    if len(splits.get("test", ())) == 0:
        splits["train"], splits["test"] = carve(splits["train"], config.test_fraction, config.seed)
    if "val" not in splits:
        splits["train"], splits["val"] = carve(splits["train"], config.val_fraction, config.seed + 1)
    return splits["train"], splits["val"], splits["test"]


def report_skipped(skipped, what="files"):
    """Logs what was skipped once: a count and the first MAX_NAMED_SKIPS places with reasons."""
    if not skipped:
        return
    named = "\n  ".join(f"{where} ({reason})" for where, reason in skipped[:MAX_NAMED_SKIPS])
    more = f"\n  … and {len(skipped) - MAX_NAMED_SKIPS} more" if len(skipped) > MAX_NAMED_SKIPS else ""
    log.warning("skipped %d %s that cannot be used:\n  %s%s", len(skipped), what, named, more)
