"""Patch whitening: a first convolution computed from the training images, not learned.

airbench (Jordan, 2024) sets its 2x2 first convolution to the eigenvectors of
the covariance of 2x2 training patches, each divided by the square root of its
eigenvalue (and again negated, so a following GELU sees both signs). The net
then starts from decorrelated inputs of unit variance, which is worth several
epochs of a short schedule.
"""

import numpy as np

WHITEN_LAYER = "whiten"
EPSILON = 5e-4  # added to the eigenvalues: keeps near-constant patch directions from blowing up


def has_whitening(model):
    """True when `model` has a whitening convolution to initialise from data."""
    return any(layer.name == WHITEN_LAYER for layer in model.layers)


def init_whitening(model, images, epsilon=EPSILON):
    """Sets the `whiten` convolution of `model` from normalised training images [N, H, W, C].

    The kernel gets the whitening filters (and their negatives); the bias is zeroed.
    """
    layer = model.get_layer(WHITEN_LAYER)
    kernel_size = layer.kernel_size
    filters = whitening_filters(images, kernel_size, epsilon)
    kernel = np.concatenate([filters, -filters], axis=-1).astype(np.float32)
    if kernel.shape != tuple(layer.kernel.shape):
        raise ValueError(f"the whitening layer has shape {tuple(layer.kernel.shape)}, the data gives {kernel.shape}")
    layer.set_weights([kernel, np.zeros(kernel.shape[-1], np.float32)])


def whitening_filters(images, kernel_size, epsilon=EPSILON):
    """Returns [kh, kw, C, kh*kw*C] filters that map patches to whitened coordinates, largest variance first."""
    covariance = _patch_covariance(images, kernel_size)
    eigenvalues, eigenvectors = np.linalg.eigh(covariance)  # ascending
    order = np.argsort(eigenvalues)[::-1]
    scaled = eigenvectors[:, order] / np.sqrt(eigenvalues[order] + epsilon)
    height, width = kernel_size
    return scaled.reshape(height, width, images.shape[-1], -1)


def _patch_covariance(images, kernel_size, chunk=500):
    """The uncentred covariance of all kh x kw patches, accumulated a chunk of images at a time."""
    total = 0.0
    count = 0
    for start in range(0, len(images), chunk):
        patches = _patches(np.asarray(images[start:start + chunk], np.float64), kernel_size)
        total = total + patches.T @ patches
        count += len(patches)
    return total / count


def _patches(images, kernel_size):
    """Every kh x kw patch of every image, flattened in (row, column, channel) order: [P, kh*kw*C]."""
    height, width = kernel_size
    windows = np.lib.stride_tricks.sliding_window_view(images, (height, width), axis=(1, 2))
    # [N, H', W', C, kh, kw] → [N, H', W', kh, kw, C], the layout of a Keras kernel's first three axes.
    windows = np.moveaxis(windows, 3, -1)
    return windows.reshape(-1, height * width * images.shape[-1])
