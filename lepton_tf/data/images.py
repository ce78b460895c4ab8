"""Image folders: one sub-folder a class, decoded once into memory.

Layout: `FOLDER/<class>/**/<image>` (nested folders inside a class count), or
the same under `FOLDER/train/`, `FOLDER/test/` and optionally `FOLDER/val/`.
Class order is the sorted folder names. Files are decoded with Pillow, which
reads JPEG, PNG, BMP, GIF and WebP in RGB, grayscale, RGBA, palette and CMYK
modes; unreadable files are skipped, counted and reported once.
"""

import concurrent.futures
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from lepton_tf.data import disk_cache
from lepton_tf.data.splits import ImageData, ImageSplit, fill_missing_splits, report_skipped
from lepton_tf.errors import DataError

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".gif", ".webp")
VAL_FOLDER_NAMES = ("val", "validation", "valid", "dev")


def load_image_folder(folder, config, cache_dir=None):
    """Loads an image folder into train/val/test splits.

    Args:
      folder: path of the data set folder.
      config: a `DataConfig` (image_size, fractions, seed, decode_threads, cache).
      cache_dir: where `data.cache: disk` puts the memory-mapped images (required for it).

    Returns:
      An `ImageData`.

    Raises:
      DataError: the folder is missing, has no class folders or no images,
        a class folder is empty, or train and test hold different classes.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise DataError(f"data folder not found: {folder}")
    layout = _split_folders(folder)
    files = {name: find_class_files(path) for name, path in layout.items()}
    class_names = sorted(files["train"])
    for name, per_class in files.items():
        _check_same_classes(class_names, sorted(per_class), layout["train"], layout[name])
    skipped = []
    on_disk = config.cache == "disk"
    splits = {name: _decode_split(per_class, class_names, config, skipped,
                                  Path(cache_dir) / f"{name}.npy" if on_disk else None)
              for name, per_class in files.items()}
    report_skipped(skipped, "unreadable or non-image files")
    _check_every_class_readable(splits["train"], class_names, layout["train"])
    return ImageData(class_names, *fill_missing_splits(splits, config), skipped)


def _split_folders(folder):
    children = {p.name: p for p in folder.iterdir() if p.is_dir()}
    if "train" not in children:
        return {"train": folder}
    layout = {"train": children["train"]}
    if "test" in children:
        layout["test"] = children["test"]
    for name in VAL_FOLDER_NAMES:
        if name in children:
            layout["val"] = children[name]
            break
    return layout


def find_class_files(folder):
    """Maps each class folder name under `folder` to (image files, other files), sorted.

    Other files (not an image extension) are returned so the caller can count
    them as skipped. Hidden files and folders are ignored.

    Raises:
      DataError: `folder` has no class folders, or a class folder has no image files.
    """
    class_dirs = sorted(p for p in Path(folder).iterdir() if p.is_dir() and not p.name.startswith("."))
    if not class_dirs:
        raise DataError(
            f"{folder} has no class folders: expected one sub-folder per class, "
            f"e.g. {folder}/cat/0001.jpg")
    files = {}
    for class_dir in class_dirs:
        found = sorted(p for p in class_dir.rglob("*") if p.is_file() and not _is_hidden(p, class_dir))
        images = [p for p in found if p.suffix.lower() in IMAGE_EXTENSIONS]
        if not images:
            raise DataError(
                f"class folder {class_dir} holds no image files "
                f"({', '.join(IMAGE_EXTENSIONS)}, any letter case)")
        files[class_dir.name] = (images, [p for p in found if p.suffix.lower() not in IMAGE_EXTENSIONS])
    return files


def _is_hidden(path, root):
    return any(part.startswith(".") for part in path.relative_to(root).parts)


def _check_same_classes(expected, found, train_dir, other_dir):
    if expected == found:
        return
    missing = sorted(set(expected) - set(found))
    extra = sorted(set(found) - set(expected))
    raise DataError(
        f"class folders differ between {train_dir} and {other_dir}: "
        f"missing in {other_dir.name}: {missing or 'none'}; only in {other_dir.name}: {extra or 'none'}")


def _decode_split(per_class, class_names, config, skipped, cache_file=None):
    """Decodes and resizes a split a chunk at a time, into memory or into `cache_file` (memory-mapped)."""
    paths, labels = [], []
    for label, name in enumerate(class_names):
        images, others = per_class[name]
        skipped.extend((str(p), "not an image file extension") for p in others)
        paths.extend(images)
        labels.extend([label] * len(images))
    shape = (len(paths), config.image_size, config.image_size, 3)
    array = disk_cache.create(cache_file, shape) if cache_file else np.zeros(shape, np.uint8)
    keep = []
    with concurrent.futures.ThreadPoolExecutor(max(1, config.decode_threads)) as pool:
        for start in range(0, len(paths), disk_cache.CHUNK):
            decoded = pool.map(_try_decode, paths[start:start + disk_cache.CHUNK])
            for index, (image, error) in enumerate(decoded, start=start):
                if error:
                    skipped.append((str(paths[index]), error))
                    continue
                array[index] = resize_uint8(image, config.image_size)
                keep.append(index)
    if cache_file:
        array = disk_cache.publish(array, cache_file)
    if len(keep) < len(paths):
        array = disk_cache.gather(array, keep)
    return ImageSplit(array, np.array([labels[i] for i in keep], np.int32), [str(paths[i]) for i in keep])


def decode_file(path):
    """Decodes an image file to an RGB uint8 array [H, W, 3] (first frame of animations).

    Raises:
      OSError, ValueError, UnidentifiedImageError: the file is not a readable image.
    """
    with Image.open(path) as image:
        image.seek(0)
        image.load()
        if image.mode in ("P", "PA"):
            image = image.convert("RGBA")  # palette transparency goes through RGBA, as decoders do
        return np.asarray(image.convert("RGB"), dtype=np.uint8)


def _try_decode(path):
    try:
        if path.stat().st_size == 0:
            return None, "empty file"
        return decode_file(path), None
    except (OSError, ValueError, UnidentifiedImageError, Image.DecompressionBombError) as error:
        return None, f"{type(error).__name__}: {error}"


def resize_uint8(image, size):
    """Resizes an RGB uint8 image to size x size exactly as the SavedModel signature does."""
    if image.shape[:2] == (size, size):
        return image
    from lepton_tf.keras import tf

    return resize_images(tf.constant(image), size).numpy()


def resize_images(images, size):
    """Bilinear, antialiased resize of uint8 images (or one image), rounded back to uint8.

    The same function serves the loader and the SavedModel signature, so a
    server sees exactly the pixels training saw.
    """
    from lepton_tf.keras import tf

    resized = tf.image.resize(tf.cast(images, tf.float32), (size, size), antialias=True)
    return tf.cast(tf.clip_by_value(tf.round(resized), 0.0, 255.0), tf.uint8)


def _check_every_class_readable(split, class_names, train_dir):
    counts = np.bincount(split.labels, minlength=len(class_names))
    empty = [name for name, count in zip(class_names, counts) if count == 0]
    if empty:
        raise DataError(f"no readable images in class folder(s) {empty} under {train_dir}")
