"""A photo-sized image folder made offline from the CIFAR-10 JPEGs, for the transfer-learning row.

No photo set ships with the project and nothing may be downloaded, so the
transfer benchmark upscales CIFAR-10 images to the sizes and shapes phone
photos have: each image is enlarged (bicubic) to a random short side of
192-448 pixels and a random aspect ratio (1:1, 4:3, 3:4, 16:9, 9:16), then
saved as a JPEG. The content is still 32x32 worth of detail, so the figures
say how the recipes compare on photo-sized files, not what they reach on
real photos.
"""

from pathlib import Path

import numpy as np
from PIL import Image

ASPECTS = ((1, 1), (4, 3), (3, 4), (16, 9), (9, 16))
SHORT_SIDES = (192, 448)


def make_photo_folder(source, destination, classes=None, train_per_class=200, test_per_class=60, seed=0):
    """Writes `destination/{train,test}/<class>/*.jpg` from a CIFAR-10-style JPEG folder.

    Args:
      source: a folder with train/<class>/ and test/<class>/ images.
      destination: the folder to write (created; existing files are overwritten).
      classes: class names to take (default: all of `source/train`, sorted).
      train_per_class, test_per_class: files taken per class (the first ones, sorted by name).
      seed: draws every file's size and shape.

    Returns:
      `destination` as a Path.
    """
    source, destination = Path(source), Path(destination)
    classes = sorted(classes or (p.name for p in (source / "train").iterdir() if p.is_dir()))
    rng = np.random.default_rng(seed)
    for split, count in (("train", train_per_class), ("test", test_per_class)):
        for name in classes:
            out = destination / split / name
            out.mkdir(parents=True, exist_ok=True)
            for path in sorted((source / split / name).glob("*.jpg"))[:count]:
                _enlarge(path, out / path.name, rng)
    return destination


def _enlarge(path, target, rng):
    across, down = ASPECTS[rng.integers(len(ASPECTS))]
    short = int(rng.integers(SHORT_SIDES[0], SHORT_SIDES[1] + 1))
    scale = short / min(across, down)
    size = (int(round(across * scale)), int(round(down * scale)))
    with Image.open(path) as image:
        image.convert("RGB").resize(size, Image.BICUBIC).save(target, quality=90)
