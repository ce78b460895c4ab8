"""The built-in default data set: scikit-learn's 8x8 handwritten digits.

It ships inside the scikit-learn wheel, so `make train` works offline on a
fresh machine. It is written out once as an ordinary image folder and then
read by the same folder loader as any user's data.
"""

from pathlib import Path

import numpy as np
from PIL import Image

from lepton_tf.fileio import atomic_dir

BUILTIN_NAME = "digits"


def write_digits_folder(destination):
    """Writes the 1,797 digits as `destination/<digit>/NNNN.png` (once).

    Pixel values 0-16 are scaled to 0-255 grayscale. The folder appears
    atomically, so an interrupted write is redone on the next call.

    Returns:
      The folder path.
    """
    from sklearn.datasets import load_digits

    destination = Path(destination)
    if destination.is_dir():
        return destination
    digits = load_digits()
    pixels = np.round(digits.images * (255.0 / 16.0)).astype(np.uint8)
    with atomic_dir(destination) as tmp:
        for index, (image, label) in enumerate(zip(pixels, digits.target)):
            class_dir = tmp / str(label)
            class_dir.mkdir(exist_ok=True)
            Image.fromarray(image, mode="L").save(class_dir / f"{index:04d}.png")
    return destination
