"""The 15 CIFAR-10-C corruptions with CIFAR-10-C's own, 32-px severity constants.

`imagecorruptions` implements ImageNet-C's corruptions with ImageNet-C's
constants, which are sized for 224-px photos: on a 32-px image its mildest
blur already erases the object. CIFAR-10-C (Hendrycks & Dietterich 2019,
`make_cifar_c.py`) used the same functions with smaller constants; they are
in `CONSTANTS` below, severity 1 to 5. The functions here follow CIFAR-10-C's
algorithms, built on `imagecorruptions`' helpers (its disk kernel, plasma
fractal, clipped zoom, motion-blur kernel that stands in for ImageMagick's,
and its frost pictures), and generalised from exactly 32 px to any small
square-ish image (CIFAR-10-C's pixel counts scale with the image side).

Each function is `(uint8 HxWx3 array, severity constant) -> float array 0-255`
and draws its randomness from NumPy's global generator, which the caller seeds.
"""

import functools
import importlib.resources
from io import BytesIO

import cv2
import numpy as np
import skimage
from imagecorruptions.corruptions import _motion_blur, clipped_zoom, disk, plasma_fractal
from PIL import Image
from scipy.ndimage import map_coordinates

FROST_PICTURES = ("frost1.png", "frost2.png", "frost3.png", "frost4.jpg", "frost5.jpg")  # CIFAR-10-C drew from 5
CIFAR_SIDE = 32  # the side CIFAR-10-C's pixel constants were chosen for


def _unit(x):
    return np.asarray(x, dtype=np.float32) / 255.0


def _pixels(x):
    return np.clip(x, 0, 1) * 255


def _blur(x, sigma):
    return skimage.filters.gaussian(x, sigma=sigma, channel_axis=-1)


def gaussian_noise(x, c):
    x = _unit(x)
    return _pixels(x + np.random.normal(size=x.shape, scale=c))


def shot_noise(x, c):
    return _pixels(np.random.poisson(_unit(x) * c) / c)


def impulse_noise(x, c):
    return _pixels(skimage.util.random_noise(_unit(x), mode="s&p", amount=c, rng=np.random.randint(2**31)))


def defocus_blur(x, c):
    kernel = disk(radius=c[0], alias_blur=c[1])
    x = _unit(x)
    return _pixels(np.stack([cv2.filter2D(x[:, :, d], -1, kernel) for d in range(3)], axis=-1))


def glass_blur(x, c):
    sigma, max_delta, iterations = c
    x = np.uint8(_blur(_unit(x), sigma) * 255)
    height, width = x.shape[:2]
    # Locally shuffle pixels, bottom-right to top-left. CIFAR-10-C's "swap" of two NumPy
    # views copies the neighbour into the pixel and leaves the neighbour as it was; that
    # is what made the published set, so it is what this does.
    rows = range(height - max_delta, max_delta, -1)
    columns = range(width - max_delta, max_delta, -1)
    offsets = np.random.randint(-max_delta, max_delta, size=(iterations, len(rows), len(columns), 2))
    for step in offsets:
        for h, row_offsets in zip(rows, step):
            for w, (dx, dy) in zip(columns, row_offsets):
                x[h, w] = x[h + dy, w + dx]
    return _pixels(_blur(x / 255.0, sigma))


def motion_blur(x, c):
    radius, sigma = c
    return np.clip(_motion_blur(np.asarray(x), radius=radius, sigma=sigma, angle=np.random.uniform(-45, 45)), 0, 255)


def zoom_blur(x, c):
    x = _unit(x)
    zoomed = sum(_zoom(x, factor) for factor in c)
    return _pixels((x + zoomed) / (len(c) + 1))


def _zoom(x, factor):
    """`clipped_zoom`, padded back to the input's shape where rounding left it a pixel short."""
    out = clipped_zoom(x, factor)[:x.shape[0], :x.shape[1]]
    if out.shape[:2] != x.shape[:2]:
        out = np.pad(out, [(0, x.shape[0] - out.shape[0]), (0, x.shape[1] - out.shape[1]), (0, 0)], mode="edge")
    return out


def snow(x, c):
    x = _unit(x)
    layer = np.random.normal(size=x.shape[:2], loc=c[0], scale=c[1])
    layer = _zoom(layer[..., np.newaxis], c[2])
    layer[layer < c[3]] = 0
    layer = np.clip(layer.squeeze(-1), 0, 1)
    layer = _motion_blur(layer, radius=c[4], sigma=c[5], angle=np.random.uniform(-135, -45))
    layer = (np.round(np.clip(layer, 0, 1) * 255) / 255.0)[..., np.newaxis]
    gray = cv2.cvtColor(x, cv2.COLOR_RGB2GRAY)[..., np.newaxis]
    x = c[6] * x + (1 - c[6]) * np.maximum(x, gray * 1.5 + 0.5)
    return _pixels(x + layer + np.rot90(layer, k=2))


def frost(x, c):
    height, width = np.asarray(x).shape[:2]
    picture = _frost_picture(FROST_PICTURES[np.random.randint(len(FROST_PICTURES))], max(height, width))
    top = np.random.randint(0, picture.shape[0] - height)
    left = np.random.randint(0, picture.shape[1] - width)
    picture = picture[top:top + height, left:left + width][..., [2, 1, 0]]  # BGR -> RGB
    return np.clip(c[0] * np.asarray(x, dtype=np.float32) + c[1] * picture, 0, 255)


@functools.lru_cache(maxsize=16)
def _frost_picture(name, side):
    """A frost picture (BGR) scaled as CIFAR-10-C scaled it for 32 px (1/5), in proportion to `side`."""
    with importlib.resources.as_file(importlib.resources.files("imagecorruptions") / "frost" / name) as path:
        picture = cv2.imread(str(path))
    scale = max(0.2 * side / CIFAR_SIDE, (side + 1) / min(picture.shape[:2]))  # always larger than the image
    return cv2.resize(picture, (0, 0), fx=scale, fy=scale)


def fog(x, c):
    x = _unit(x)
    height, width = x.shape[:2]
    size = 1 << int(np.ceil(np.log2(max(height, width, 2))))
    peak = x.max()
    x = x + c[0] * plasma_fractal(mapsize=size, wibbledecay=c[1])[:height, :width][..., np.newaxis]
    return _pixels(x * peak / (peak + c[0]))


def brightness(x, c):
    hsv = skimage.color.rgb2hsv(_unit(x))
    hsv[:, :, 2] = np.clip(hsv[:, :, 2] + c, 0, 1)
    return _pixels(skimage.color.hsv2rgb(hsv))


def contrast(x, c):
    x = _unit(x)
    means = np.mean(x, axis=(0, 1), keepdims=True)
    return _pixels((x - means) * c + means)


def elastic_transform(x, c):
    """CIFAR-10-C's random affine warp then elastic displacement; its constants are fractions of the side."""
    x = _unit(x)
    height, width = x.shape[:2]
    side = min(height, width)
    alpha, sigma, affine = (fraction * side for fraction in c)
    center = np.float32([height, width]) // 2
    square = side // 3
    points = np.float32([center + square, [center[0] + square, center[1] - square], center - square])
    moved = points + np.random.uniform(-affine, affine, size=points.shape).astype(np.float32)
    x = cv2.warpAffine(x, cv2.getAffineTransform(points, moved), (width, height), borderMode=cv2.BORDER_REFLECT_101)
    dx, dy = (skimage.filters.gaussian(np.random.uniform(-1, 1, size=(height, width)), sigma, mode="reflect",
                                       truncate=3) * alpha for _ in range(2))
    rows, columns, channels = np.meshgrid(np.arange(height), np.arange(width), np.arange(3), indexing="ij")
    coordinates = (rows + dy[..., np.newaxis], columns + dx[..., np.newaxis], channels)
    return _pixels(map_coordinates(x, coordinates, order=1, mode="reflect"))


def pixelate(x, c):
    image = Image.fromarray(np.asarray(x, dtype=np.uint8))
    small = image.resize((max(1, int(image.width * c)), max(1, int(image.height * c))), Image.BOX)
    return np.asarray(small.resize(image.size, Image.BOX))


def jpeg_compression(x, c):
    output = BytesIO()
    Image.fromarray(np.asarray(x, dtype=np.uint8)).save(output, "JPEG", quality=c)
    return np.asarray(Image.open(output))


# Severity 1..5 of each corruption, from CIFAR-10-C's make_cifar_c.py (elastic: fractions of the 32-px side).
CONSTANTS = {
    "gaussian_noise": (0.04, 0.06, 0.08, 0.09, 0.10),
    "shot_noise": (500, 250, 100, 75, 50),
    "impulse_noise": (0.01, 0.02, 0.03, 0.05, 0.07),
    "defocus_blur": ((0.3, 0.4), (0.4, 0.5), (0.5, 0.6), (1, 0.2), (1.5, 0.1)),
    "glass_blur": ((0.05, 1, 1), (0.25, 1, 1), (0.4, 1, 1), (0.25, 1, 2), (0.4, 1, 2)),
    "motion_blur": ((6, 1), (6, 1.5), (6, 2), (8, 2), (9, 2.5)),
    "zoom_blur": tuple(tuple(np.arange(1, end, 0.01)) for end in (1.06, 1.11, 1.16, 1.21, 1.26)),
    "snow": ((0.1, 0.2, 1, 0.6, 8, 3, 0.95), (0.1, 0.2, 1, 0.5, 10, 4, 0.9), (0.15, 0.3, 1.75, 0.55, 10, 4, 0.9),
             (0.25, 0.3, 2.25, 0.6, 12, 6, 0.85), (0.3, 0.3, 1.25, 0.65, 14, 12, 0.8)),
    "frost": ((1, 0.2), (1, 0.3), (0.9, 0.4), (0.85, 0.4), (0.75, 0.45)),
    "fog": ((0.2, 3), (0.5, 3), (0.75, 2.5), (1, 2), (1.5, 1.75)),
    "brightness": (0.05, 0.1, 0.15, 0.2, 0.3),
    "contrast": (0.75, 0.5, 0.4, 0.3, 0.15),
    "elastic_transform": ((0, 0, 0.08), (0.05, 0.2, 0.07), (0.08, 0.06, 0.06), (0.1, 0.04, 0.05), (0.1, 0.03, 0.03)),
    "pixelate": (0.95, 0.9, 0.85, 0.75, 0.65),
    "jpeg_compression": (80, 65, 58, 50, 40),
}

FUNCTIONS = {name: globals()[name] for name in CONSTANTS}


def corrupt(image, name, severity):
    """`image` (uint8 HxWx3) under CIFAR-10-C corruption `name` at `severity` 1-5, as uint8."""
    return np.uint8(FUNCTIONS[name](image, CONSTANTS[name][severity - 1]))
