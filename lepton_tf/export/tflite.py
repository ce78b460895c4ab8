"""TFLite conversion: float32, float16, dynamic-range and full-integer int8."""

import numpy as np

from lepton_tf.keras import tf

FORMATS = ("float32", "float16", "dynamic", "int8")
# The extra file of optimize.method xnnpack_sparse: float32 with mostly-zero kernels stored sparse.
SPARSE_FORMAT = "float32_sparse"


def representative_dataset(examples, count):
    """A calibration generator over the first `count` normalised examples (one a step)."""
    examples = np.asarray(examples[:count])  # float32 images or int32 token ids, as the model takes

    def generate():
        for example in examples:
            yield [example[None]]

    return generate


def convert(model, fmt, representative_examples=None, int8_io="uint8"):
    """Converts a tf-keras model to TFLite bytes.

    Args:
      model: a float, pruned or QAT tf-keras model.
      fmt: 'float32' (no optimisation), 'float16' (float16 weights),
        'dynamic' (int8 weights, float activations), 'int8' (full integer) or
        'float32_sparse' (float32; kernels that are mostly zeros stored in
        TFLite's sparse format behind DENSIFY ops, XNNPACK's cue for sparse inference).
      representative_examples: normalised float32 inputs; required for 'int8',
        QAT models included (the converter still calibrates the input and any
        tensor QAT did not observe).
      int8_io: 'uint8' or 'int8', the input and output type of the int8 file.
        Integer inputs (token ids) stay int32; only the output follows it.

    Returns:
      The `.tflite` flatbuffer as bytes.

    Raises:
      ValueError: 'int8' without representative examples, or an unknown format.
    """
    converter = tf.lite.TFLiteConverter.from_keras_model(model)
    if fmt == "float32":
        pass
    elif fmt == SPARSE_FORMAT:
        converter.optimizations = [tf.lite.Optimize.EXPERIMENTAL_SPARSITY]
    elif fmt == "float16":
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        converter.target_spec.supported_types = [tf.float16]
    elif fmt == "dynamic":
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
    elif fmt == "int8":
        if representative_examples is None or len(representative_examples) == 0:
            raise ValueError("int8 conversion needs representative examples")
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        converter.representative_dataset = representative_dataset(representative_examples, len(representative_examples))
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
        io_type = {"uint8": tf.uint8, "int8": tf.int8}[int8_io]
        if model.inputs[0].dtype.is_floating:
            converter.inference_input_type = io_type
        converter.inference_output_type = io_type
    else:
        raise ValueError(f"unknown TFLite format '{fmt}'; choose one of {', '.join((*FORMATS, SPARSE_FORMAT))}")
    return converter.convert()
