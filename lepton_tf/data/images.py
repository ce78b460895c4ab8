"""Image folders: one sub-folder a class, decoded once into memory.

Layout: `FOLDER/<class>/**/<image>` (nested folders inside a class count), or
the same under `FOLDER/train/`, `FOLDER/test/` and optionally `FOLDER/val/`.
Class order is the sorted folder names.

Every image is decoded by `decode_image_bytes`, TensorFlow's decoder, the one
the SavedModel signature runs, so training, `lepton predict` and a server see
the same pixels. Files with an IMAGE_EXTENSIONS suffix (any letter case) are
read by their content. Accepted: JPEG (baseline or progressive; grayscale, RGB
or CMYK; any chroma subsampling), PNG (1 to 16 bits; grayscale, RGB or
palette, with or without alpha or a transparent colour; alpha is dropped and
16 bits scale to 8), BMP (uncompressed 24/32-bit, or 8-bit grayscale), GIF
(first frame of an animation) and WebP (lossy or lossless, without alpha).
Skipped, counted and reported once with the reason: files TensorFlow cannot
read (WebP with alpha, animated WebP, 1/4/16-bit BMP, TIFF, broken files…)
and files it reads wrongly (BMP palettes, compression or colour masks, which
its BMP reader ignores).
"""

import io
import logging
from pathlib import Path

import numpy as np
from PIL import Image

from lepton_tf.data import disk_cache
from lepton_tf.data.splits import ImageData, ImageSplit, fill_missing_splits, report_skipped
from lepton_tf.errors import DataError

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".gif", ".webp")
VAL_FOLDER_NAMES = ("val", "validation", "valid", "dev")
log = logging.getLogger(__name__)
_MODE_NAMES = {"1": "1-bit", "L": "grayscale", "LA": "grayscale+alpha", "P": "palette",
               "PA": "palette+alpha", "RGBA": "RGB+alpha", "I;16": "16-bit grayscale"}


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
    count = sum(len(images) for split in files.values() for images, _ in split.values())
    on_disk = _use_disk_cache(config, count, cache_dir is not None)
    splits = {name: _decode_split(per_class, class_names, config, skipped,
                                  Path(cache_dir) / f"{name}.npy" if on_disk else None)
              for name, per_class in files.items()}
    report_skipped(skipped, "unreadable or non-image files")
    _check_every_class_readable(splits["train"], class_names, layout["train"])
    return ImageData(class_names, *fill_missing_splits(splits, config), skipped)


AUTO_DISK_BYTES = 2 << 30  # `data.cache: auto` memory-maps decoded images from disk above this size


def _use_disk_cache(config, count, have_folder):
    """`data.cache`: disk, memory, or auto (disk when `count` decoded images would exceed AUTO_DISK_BYTES).

    Auto stays in memory when the caller gave no folder for the cache.
    """
    if config.cache != "auto":
        return config.cache == "disk"
    if not have_folder:
        return False
    size = count * config.image_size * config.image_size * 3
    if size > AUTO_DISK_BYTES:
        log.info("decoded images would take %.1f GiB: memory-mapping them from the run folder's cache/",
                 size / (1 << 30))
        return True
    return False


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
    for start in range(0, len(paths), disk_cache.CHUNK):
        chunk = paths[start:start + disk_cache.CHUNK]
        for index, (image, error) in enumerate(_decode_chunk(chunk, config), start=start):
            if error:
                skipped.append((str(paths[index]), error))
                continue
            array[index] = image
            keep.append(index)
    if cache_file:
        array = disk_cache.publish(array, cache_file)
    if len(keep) < len(paths):
        array = disk_cache.gather(array, keep)
    return ImageSplit(array, np.array([labels[i] for i in keep], np.int32), [str(paths[i]) for i in keep])


def _decode_chunk(paths, config):
    """[(image at image_size, None) or (None, reason)] for `paths`, in order.

    A `tf.data` map decodes and resizes in TensorFlow's own threads (no Python
    per op, no GIL): about 4x faster than decoding file by file. A file that
    fails there, and every BMP (whose pixels are checked against Pillow's),
    is then decoded alone by `decode_file` for its pixels or its reason.
    """
    from lepton_tf.keras import tf

    size = config.image_size

    def decode(index, path):
        data = tf.io.read_file(path)
        return index, decode_and_resize(data, size, config.resize), tf.strings.substr(data, 0, 2) == "BM"

    dataset = (tf.data.Dataset.from_tensor_slices((np.arange(len(paths)), [str(p) for p in paths]))
               .map(decode, num_parallel_calls=max(1, config.decode_threads), deterministic=False)
               .ignore_errors().batch(64))
    results = [None] * len(paths)
    for indices, images, is_bmp in dataset.as_numpy_iterator():
        for index, image, bmp in zip(indices, images, is_bmp):
            results[index] = None if bmp else (image, None)
    for index, result in enumerate(results):
        if result is None:  # failed in the batch, or a BMP: decode alone for the reason or the check
            image, error = _try_decode(paths[index])
            results[index] = (None, error) if error else (resize_uint8(image, size, config.resize), None)
    return results


def decode_and_resize(data, size, resize="squash"):
    """Encoded image bytes → uint8 [size, size, 3]: what the loader keeps and the SavedModel signature feeds."""
    from lepton_tf.keras import tf

    return tf.ensure_shape(resize_image(decode_image_bytes(data), size, resize), [size, size, 3])


def decode_image_bytes(data):
    """Decodes encoded image bytes to an RGB uint8 tensor [H, W, 3] (first frame of animations).

    The single decoder of the project: the SavedModel signature runs it in its
    graph (TF Serving has no Python), the loader and `decode_file` run it
    eagerly, so every path gets the very same pixels. Works on a scalar string
    tensor or on Python bytes.
    """
    from lepton_tf.keras import tf

    data = tf.convert_to_tensor(data, tf.string)
    # JPEG with the accurate integer IDCT, as Pillow, libjpeg-turbo's default and
    # phone decoders use (decode_image's fast IDCT is up to 10 levels off them).
    # channels=3, never 0: 0 returns 1 to 4 channels, and TF 2.21 corrupts
    # memory decoding an animated WebP with it. With 3, what TensorFlow cannot
    # read (WebP with alpha, animated WebP) fails with an error instead.
    image = tf.cond(tf.io.is_jpeg(data),
                    lambda: tf.io.decode_jpeg(data, channels=3, dct_method="INTEGER_ACCURATE"),
                    lambda: tf.io.decode_image(data, channels=3, expand_animations=False))
    image.set_shape([None, None, 3])
    return image


class UnreadableImageError(ValueError):
    """`decode_image_bytes` cannot read a file, or would read it wrongly; the message says why."""


def decode_file(path):
    """Decodes an image file with `decode_image_bytes` to an RGB uint8 array [H, W, 3].

    Raises:
      OSError: the file cannot be read.
      UnreadableImageError (a ValueError): TensorFlow cannot decode the file,
        or decodes it wrongly (a BMP variant its reader ignores parts of).
    """
    from lepton_tf.keras import tf

    data = Path(path).read_bytes()
    try:
        image = decode_image_bytes(data).numpy()
    except tf.errors.OpError as error:
        raise UnreadableImageError(_why_unreadable(data, error)) from None
    if data.startswith(b"BM"):
        _check_bmp(data, image)
    return image


def _why_unreadable(data, error):
    """Names what the file is (Pillow reads headers TensorFlow rejects) and what TensorFlow said."""
    said = error.message.rsplit("}}", 1)[-1].replace("[Op:DecodeImage]", "").strip()
    try:
        with Image.open(io.BytesIO(data)) as image:
            kind = _describe(image)
    except (OSError, ValueError, Image.DecompressionBombError):
        return f"not an image TensorFlow can decode ({said})"
    return f"{kind}: TensorFlow's decoder, which the SavedModel uses, cannot read it ({said})"


def _describe(image):
    """E.g. 'animated WEBP', 'WEBP RGB+alpha', '1-bit BMP'."""
    if getattr(image, "n_frames", 1) > 1:
        return f"animated {image.format}"
    return f"{_MODE_NAMES.get(image.mode, image.mode)} {image.format}"


def _check_bmp(data, image):
    """Raises unless TensorFlow's BMP pixels equal Pillow's.

    TensorFlow's BMP reader ignores the palette (it returns palette indices
    as grey levels), the compression and the colour masks, without an error;
    Pillow's reader handles them, so a difference means TensorFlow, and hence
    the SavedModel, reads this file wrongly.
    """
    try:
        with Image.open(io.BytesIO(data)) as reference:
            if np.array_equal(np.asarray(reference.convert("RGB")), image):
                return
            kind = _describe(reference)
    except (OSError, ValueError, Image.DecompressionBombError) as error:
        raise UnreadableImageError(f"BMP that Pillow cannot read to check TensorFlow's pixels ({error})") from None
    raise UnreadableImageError(
        f"{kind}: TensorFlow's decoder, which the SavedModel uses, reads it wrongly "
        "(it ignores BMP palettes, compression and colour masks)")


def _try_decode(path):
    try:
        if path.stat().st_size == 0:
            return None, "empty file"
        return decode_file(path), None
    except UnreadableImageError as error:
        return None, str(error)
    except (OSError, ValueError, Image.DecompressionBombError) as error:
        return None, f"{type(error).__name__}: {error}"


RESIZE_MODES = ("squash", "crop", "pad")


def resize_uint8(image, size, resize="squash"):
    """Resizes an RGB uint8 array to size x size exactly as the SavedModel signature does."""
    if image.shape[:2] == (size, size):
        return image
    from lepton_tf.keras import tf

    return resize_image(tf.constant(image), size, resize).numpy()


def resize_image(image, size, resize="squash"):
    """One uint8 image [H, W, 3] → [size, size, 3], keeping the aspect ratio or not.

    `squash` stretches the whole image to the square (what MediaPipe's
    ImageClassifier does with a camera frame); `crop` takes the centred
    square first (MediaPipe: a centred region of interest); `pad` centres
    the image on a black square first (letterboxing). An image already at
    the size is returned as it is.
    """
    from lepton_tf.keras import tf

    if resize not in RESIZE_MODES:
        raise ValueError(f"resize must be one of {RESIZE_MODES}, got {resize!r}")
    height, width = tf.shape(image)[0], tf.shape(image)[1]
    if resize == "crop":
        side = tf.minimum(height, width)
        image = tf.image.crop_to_bounding_box(image, (height - side) // 2, (width - side) // 2, side, side)
    elif resize == "pad":
        side = tf.maximum(height, width)
        image = tf.image.pad_to_bounding_box(image, (side - height) // 2, (side - width) // 2, side, side)
    same_size = tf.reduce_all(tf.equal(tf.shape(image)[:2], [size, size]))
    return tf.cond(same_size, lambda: image, lambda: resize_images(image, size))


def resize_images(images, size):
    """Bilinear resize of uint8 images (or one image) as MediaPipe resizes a frame, rounded back to uint8.

    MediaPipe's ImageClassifier maps the frame's corners onto the tensor's
    and samples with OpenCV's bilinear `warpPerspective` (no antialiasing):
    output pixel x reads input position x * W / w. TensorFlow's legacy
    `ResizeBilinear` (no half-pixel centres) samples the very same positions
    (a test compares it with OpenCV), so the loader, the SavedModel
    signature and a phone running the TFLite file see the same pixels.
    """
    from lepton_tf.keras import tf

    batch = tf.cast(images, tf.float32)
    single = batch.shape.rank == 3
    if single:
        batch = batch[None]
    resized = tf.raw_ops.ResizeBilinear(images=batch, size=[size, size], align_corners=False,
                                        half_pixel_centers=False)
    resized = tf.cast(tf.clip_by_value(tf.round(resized), 0.0, 255.0), tf.uint8)
    return resized[0] if single else resized


def _check_every_class_readable(split, class_names, train_dir):
    counts = np.bincount(split.labels, minlength=len(class_names))
    empty = [name for name, count in zip(class_names, counts) if count == 0]
    if empty:
        raise DataError(f"no readable images in class folder(s) {empty} under {train_dir}")
