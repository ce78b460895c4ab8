"""The weights a .tflite file ships, read from its flatbuffer: what pruning and clustering left in the file.

The interpreter cannot tell a weight from an activation buffer, and
delegates may repack weights; the file's own tensors and operators can.
"""

import typing

import numpy as np
from mediapipe.tasks.metadata import schema_py_generated as schema_fb

DTYPES = {schema_fb.TensorType.INT8: np.int8, schema_fb.TensorType.UINT8: np.uint8,
          schema_fb.TensorType.FLOAT32: np.float32, schema_fb.TensorType.FLOAT16: np.float16,
          schema_fb.TensorType.INT32: np.int32}
# Operators whose input 1 is a kernel, and the axis of its output channels in TFLite's layout.
KERNEL_OPS = {schema_fb.BuiltinOperator.CONV_2D: 0, schema_fb.BuiltinOperator.FULLY_CONNECTED: 0,
              schema_fb.BuiltinOperator.DEPTHWISE_CONV_2D: 3}


class Kernel(typing.NamedTuple):
    """One kernel stored in a .tflite file."""

    name: str
    values: np.ndarray  # in TFLite's layout
    axis: int  # of its output channels
    op: int  # the operator using it (schema BuiltinOperator)


def kernels(content):
    """The first subgraph's `Kernel`s of KERNEL_OPS operators.

    Layouts: CONV_2D [out, h, w, in]; FULLY_CONNECTED [out, in]; DEPTHWISE_CONV_2D [1, h, w, out].
    Kernels stored as sparse tensors, or computed at run time, are left out.
    """
    model = schema_fb.Model.GetRootAsModel(bytearray(content), 0)
    graph = model.Subgraphs(0)
    found = []
    for index in range(graph.OperatorsLength()):
        operator = graph.Operators(index)
        code = model.OperatorCodes(operator.OpcodeIndex())
        op = max(code.BuiltinCode(), code.DeprecatedBuiltinCode())
        if op not in KERNEL_OPS or operator.InputsLength() < 2:
            continue
        tensor = graph.Tensors(operator.Inputs(1))
        values = _constant(model, tensor)
        if values is not None:
            found.append(Kernel(tensor.Name().decode("utf-8", "replace"), values, KERNEL_OPS[op], op))
    return found


def _constant(model, tensor):
    """The tensor's stored values, or None for activations, sparse tensors and unknown types."""
    buffer = model.Buffers(tensor.Buffer())
    if buffer.DataLength() == 0 or tensor.Type() not in DTYPES or tensor.Sparsity() is not None:
        return None
    return np.frombuffer(buffer.DataAsNumpy().tobytes(), DTYPES[tensor.Type()]).reshape(tensor.ShapeAsNumpy())


def m_by_n_violations(content, m_by_n=(2, 4)):
    """Names of CONV_2D and FULLY_CONNECTED kernels with more than n - m non-zeros in some n consecutive
    input-channel weights (the last axis in TFLite's layout); [] when every kernel keeps the pattern."""
    return _m_by_n_violations(kernels(content), m_by_n)


def _m_by_n_violations(found, m_by_n):
    zeros, size = m_by_n
    broken = []
    for kernel in found:
        if kernel.op not in (schema_fb.BuiltinOperator.CONV_2D, schema_fb.BuiltinOperator.FULLY_CONNECTED):
            continue
        rows = kernel.values.reshape(-1, kernel.values.shape[-1])
        padded = np.pad(rows, [(0, 0), (0, -rows.shape[1] % size)])
        if np.count_nonzero(padded.reshape(rows.shape[0], -1, size), axis=-1).max() > size - zeros:
            broken.append(kernel.name)
    return broken


def values_per_channel(content):
    """{kernel name: the most distinct values any one of its output channels holds}.

    Per channel because int8 kernels are quantized with a scale per output
    channel: a kernel of k shared float values keeps at most k int8 values in
    each channel, but not across them.
    """
    return _values_per_channel(kernels(content))


def _values_per_channel(found):
    return {kernel.name: most_values_in_a_channel(kernel.values, kernel.axis) for kernel in found}


def most_values_in_a_channel(values, axis):
    """The most distinct values any one slice of `values` along `axis` (its output channels) holds."""
    return max(int(np.unique(np.take(values, channel, axis=axis)).size) for channel in range(values.shape[axis]))


def sparse_tensors(content):
    """How many tensors of the first subgraph are stored in TFLite's sparse format (the inputs of DENSIFY ops)."""
    graph = schema_fb.Model.GetRootAsModel(bytearray(content), 0).Subgraphs(0)
    return sum(graph.Tensors(index).Sparsity() is not None for index in range(graph.TensorsLength()))


def describe(content):
    """The card's `weights` entry: zero fraction, whether every kernel keeps 2:4, most values in a channel,
    and how many tensors are stored sparse (those are not in the other figures)."""
    found = kernels(content)  # read once, used by every figure
    if not found:
        return None
    total = sum(kernel.values.size for kernel in found)
    zeros = sum(int(np.count_nonzero(kernel.values == 0)) for kernel in found)
    return {"kernels": len(found), "zeros": round(zeros / total, 4), "two_four": not _m_by_n_violations(found, (2, 4)),
            "max_values_per_channel": max(_values_per_channel(found).values()),
            "sparse_tensors": sparse_tensors(content)}
