"""Latency of XNNPACK's sparse inference on this machine: a pruned MobileNetV2, dense file against sparse file.

    python -m benchmarks.sparse_latency [--size 224] [--sparsity 0.8] [--runs 100]

Builds `mobilenet_v2` (alpha 1.0, 10 classes), zeroes the smallest weights of
each 1x1 convolution (what `optimize.method: xnnpack_sparse` prunes; the
weights are untrained, latency does not depend on them), converts it to a
dense float32 file and to `float32_sparse`, and times
both with LiteRT's default XNNPACK delegate. XNNPACK only takes its sparse
path on CPUs without AVX (ARM phones); on x86 with AVX both run dense.
"""

import argparse
import tempfile
from pathlib import Path

import numpy as np

from lepton_tf.evaluate import measure_latency
from lepton_tf.export import weights
from lepton_tf.export.tflite import SPARSE_FORMAT, convert
from lepton_tf.keras import tfmot
from lepton_tf.models.image import mobilenet_v2


def zero_pointwise_weights(model, sparsity):
    """Sets the `sparsity` smallest-magnitude weights of every 1x1 convolution to zero; returns their count."""
    policy = tfmot.sparsity.keras.PruneForLatencyOnXNNPack()  # the layers xnnpack_sparse prunes
    pointwise = [layer for layer in model.layers if policy.allow_pruning(layer)]
    for layer in pointwise:
        kernel = layer.kernel.numpy()
        kernel[np.abs(kernel) < np.quantile(np.abs(kernel), sparsity)] = 0.0
        layer.kernel.assign(kernel)
    return len(pointwise)


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m benchmarks.sparse_latency", description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=224)
    parser.add_argument("--sparsity", type=float, default=0.8)
    parser.add_argument("--runs", type=int, default=100)
    args = parser.parse_args(argv)
    model = mobilenet_v2((args.size, args.size, 3), 10)
    layers = zero_pointwise_weights(model, args.sparsity)
    example = np.random.default_rng(0).uniform(0, 1, (args.size, args.size, 3)).astype("float32")
    with tempfile.TemporaryDirectory() as folder:
        for fmt in ("float32", SPARSE_FORMAT):
            content = convert(model, fmt)
            path = Path(folder) / f"{fmt}.tflite"
            path.write_bytes(content)
            latency = measure_latency(path, example, num_threads=1, runs=args.runs)
            print(f"{fmt:15} {len(content):>10,} bytes  {weights.sparse_tensors(content):3} sparse tensors "
                  f"(of {layers} 1x1 convolutions)  p50 {latency['p50']:.2f} ms  p90 {latency['p90']:.2f} ms")


if __name__ == "__main__":
    main()
