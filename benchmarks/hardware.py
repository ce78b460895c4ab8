"""What the figures were measured on, and how fast its matrix multiply is."""

import time

from lepton_tf import environment
from lepton_tf.keras import tf


def matmul_flops_per_second(size=2048, repeats=10):
    """The machine's own float32 matmul rate (FLOP/s) through TensorFlow, best of `repeats`.

    This is the practical ceiling a training step can approach on this
    machine with this TensorFlow build; training FLOP/s are reported as a
    fraction of it.
    """
    a = tf.random.stateless_normal([size, size], seed=[1, 2])
    b = tf.random.stateless_normal([size, size], seed=[3, 4])
    multiply = tf.function(lambda x, y: tf.reduce_sum(tf.matmul(x, y)))
    multiply(a, b).numpy()  # trace and warm up
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        multiply(a, b).numpy()
        best = min(best, time.perf_counter() - start)
    return 2.0 * size ** 3 / best


def describe(matmul_size=2048):
    """CPU, cores, TensorFlow, GPUs, and the measured matmul FLOP/s."""
    return {**environment.describe(), "matmul_flops_per_second": matmul_flops_per_second(matmul_size)}


def hardware_line(hardware):
    """One line for the README: 'AMD EPYC, 2 cores, TensorFlow 2.21.0, no GPU'."""
    gpus = ", ".join(hardware["gpus"]) or "no GPU"
    return f"{hardware['cpu']}, {hardware['cores']} cores, TensorFlow {hardware['tensorflow']}, {gpus}"
