"""The 15 common corruptions of ImageNet-C / CIFAR-10-C (Hendrycks & Dietterich 2019) at 5 severities.

Which constants: images up to `SMALL_IMAGE_SIDE` px on their longer side get
CIFAR-10-C's 32-px constants (`cifar10_c`); larger ones ImageNet-C's, through
`imagecorruptions` itself. `constants_name` says which, for the report.

Deterministic: image `i` under (corruption, severity) draws from NumPy's
generator seeded with (seed, crc32(corruption), severity, i), so a seed always
gives the same set, and an image is corrupted the same way whichever other
images come with it. NumPy's global generator is restored afterwards.
"""

import zlib

import numpy as np

from lepton_tf.robustness import cifar10_c

CORRUPTIONS = tuple(cifar10_c.CONSTANTS)  # imagecorruptions' "common" 15, in its order
SEVERITIES = (1, 2, 3, 4, 5)
SMALL_IMAGE_SIDE = 64
# imagecorruptions' functions that take their own seed instead of NumPy's global generator.
_OWN_SEED = ("impulse_noise", "glass_blur")


def constants_name(image_shape):
    """Which severity constants images of `image_shape` (H, W, C) are corrupted with."""
    if max(image_shape[:2]) <= SMALL_IMAGE_SIDE:
        return "CIFAR-10-C (its 32-px constants)"
    return "ImageNet-C (imagecorruptions' 224-px constants)"


def set_name(corruption, severity):
    """The perturbed set's name in reports: `corruption/severity`."""
    return f"{corruption}/{severity}"


def corrupt_images(images, corruption, severity, seed=0):
    """uint8 images (N, H, W, 3) under `corruption` at `severity` (1-5), deterministically for `seed`."""
    if corruption not in cifar10_c.CONSTANTS:
        raise ValueError(f"unknown corruption {corruption!r}; known: {', '.join(CORRUPTIONS)}")
    if severity not in SEVERITIES:
        raise ValueError(f"severity must be 1-5, got {severity!r}")
    images = np.asarray(images, dtype=np.uint8)
    small = max(images.shape[1:3]) <= SMALL_IMAGE_SIDE
    salt = zlib.crc32(corruption.encode("utf-8"))
    saved = np.random.get_state()
    try:
        out = np.empty_like(images)
        for index, image in enumerate(images):
            np.random.seed([seed, salt, severity, index])
            out[index] = cifar10_c.corrupt(image, corruption, severity) if small else \
                _imagenet_c(image, corruption, severity)
        return out
    finally:
        np.random.set_state(saved)


def _imagenet_c(image, corruption, severity):
    import imagecorruptions  # compiles with numba on first use: only large images need it

    seeded = {"seed": int(np.random.randint(2**31))} if corruption in _OWN_SEED else {}
    return imagecorruptions.corrupt(image, severity, corruption_name=corruption, **seeded)
