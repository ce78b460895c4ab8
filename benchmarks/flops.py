"""Floating-point operations of one forward pass, counted by TensorFlow's profiler."""

from tensorflow.python.framework.convert_to_constants import convert_variables_to_constants_v2

from lepton_tf.keras import tf


def forward_flops(model):
    """FLOPs (a multiply-add counts 2) of one example through a Keras model, from its frozen graph.

    Embedding lookups count 0; convolutions, matmuls and element-wise ops
    count as the profiler's registered statistics say.
    """
    spec = tf.TensorSpec([1, *model.input_shape[1:]], model.input.dtype)
    concrete = tf.function(lambda x: model(x, training=False)).get_concrete_function(spec)
    graph = convert_variables_to_constants_v2(concrete).graph
    options = (tf.compat.v1.profiler.ProfileOptionBuilder(tf.compat.v1.profiler.ProfileOptionBuilder.float_operation())
               .with_empty_output().build())
    profile = tf.compat.v1.profiler.profile(graph=graph, run_meta=tf.compat.v1.RunMetadata(), cmd="op",
                                            options=options)
    return int(profile.total_float_ops)


# Forward + backward ≈ 3 forward passes (the backward pass computes two gradients per matmul).
TRAINING_FLOPS_PER_FORWARD_FLOP = 3
