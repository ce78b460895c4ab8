"""`data.cache: disk`: decoded images in memory-mapped `.npy` files, for data sets larger than memory.

Images are decoded a chunk at a time straight into a file under
`RUN_DIR/cache/`, splits carved from it are copied chunk by chunk into files
of their own, and the training pipeline reads examples by index after
shuffling indices. Memory then holds a chunk, the shuffle buffer of indices
and the prefetched batches — not the data set.
"""

import hashlib
import os
from pathlib import Path

import numpy as np

from lepton_tf.fileio import temporary_beside

CHUNK = 1024  # images decoded or copied at a time


def is_on_disk(images):
    """True for a memory-mapped image array."""
    return isinstance(images, np.memmap)


def create(path, shape):
    """A writable uint8 memory map of `shape` under a temporary name beside `path` (see `publish`)."""
    return np.lib.format.open_memmap(temporary_beside(path, ".npy"), mode="w+", dtype=np.uint8, shape=tuple(shape))


def publish(array, path):
    """Flushes a map made by `create`, renames it to `path` and reopens it read-only."""
    array.flush()
    os.replace(array.filename, path)
    return np.load(path, mmap_mode="r")


def gather(images, indices):
    """`images[indices]`; a disk-backed array gives a new disk-backed file beside it, copied chunk by chunk."""
    indices = np.asarray(indices, dtype=np.int64)
    if not is_on_disk(images) or len(indices) == 0:  # an empty split needs no file (and cannot be mapped)
        return np.asarray(images[indices])
    source = Path(images.filename)
    digest = hashlib.sha1(indices.tobytes()).hexdigest()[:12]
    target = source.with_name(f"{source.stem.split('.')[0]}.{digest}.npy")
    out = create(target, (len(indices), *images.shape[1:]))
    for start in range(0, len(indices), CHUNK):
        out[start:start + CHUNK] = images[indices[start:start + CHUNK]]
    return publish(out, target)


def chunks(images):
    """Yields consecutive in-memory chunks of an image array (on disk or not)."""
    for start in range(0, len(images), CHUNK):
        yield np.asarray(images[start:start + CHUNK])
