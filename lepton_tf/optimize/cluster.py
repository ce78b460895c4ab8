"""Weight clustering with TF-MOT: every kernel shares a few distinct values (cluster, then CQAT / PCQAT).

Batch norms are folded into the convolutions *before* clustering: folding
scales each output channel by its own factor, so clustering first would
leave up to clusters x channels distinct values per kernel, and TF-MOT's
cluster-preserving QAT, which finds a kernel's clusters from its distinct
values (and gives up above 1,024), would not keep them (TF-MOT issue #1056).

For CQAT, Conv2D kernels are clustered per output channel (`cluster_per_channel`),
as TF-MOT's guide advises when quantization is per channel, as ours is. After
folding, the channels of a kernel have scales of their own; one set of
shared values for the whole kernel then leaves the small channels a value
or two: on a CIFAR-10 ResNet (9,000 images, width 16) 16 clusters per kernel
left it at chance (10%) after one epoch at a rate of 0.01 and at 0.001, where
16 per channel kept 72.7% (float: 73.35%; one epoch at 0.001). TF-MOT's CQAT keeps
per-channel clusters (it recognises a kernel whose channels hold equal
numbers of values, give or take one). Its PCQAT does not keep their zeros
(a tiny ResNet's 50% went to 0-33% per kernel in the int8 file), so with
`preserve_sparsity` (pcqat) kernels are clustered whole.
"""

import numpy as np

from lepton_tf.export.weights import most_values_in_a_channel
from lepton_tf.keras import keras, tfmot
from lepton_tf.optimize.prune import prunable_kernels
from tensorflow_model_optimization.python.core.clustering.keras.cluster_wrapper import ClusterWeights

clustering = tfmot.clustering.keras
CLUSTERED_TYPES = (keras.layers.Conv2D, keras.layers.Dense, keras.layers.DepthwiseConv2D, keras.layers.Embedding)


def cluster_model(model, clusters, preserve_sparsity):
    """Wraps each convolution, dense and embedding layer with `cluster_weights` (k-means++ centroids).

    Args:
      model: a trained functional model, batch norms already folded.
      clusters: distinct values each kernel (or embedding table; Conv2D
        without `preserve_sparsity`: each output channel) may hold.
      preserve_sparsity: keep pruned zeros at zero (one centroid pinned at 0), for PCQAT.

    Returns:
      The wrapped model (fine-tune it, then `strip`). Kernels (channels) with
      fewer positive or negative weights than `clusters` stay unclustered. An
      embedding table is most of a text model; QAT leaves it float and
      frozen, so its clusters reach the file through the converter's int8 table.
    """
    def wrap(layer):
        by_channel = per_channel(layer) and not preserve_sparsity
        if isinstance(layer, CLUSTERED_TYPES) and _large_enough(layer, clusters, by_channel):
            return clustering.cluster_weights(layer, number_of_clusters=clusters,
                                              cluster_centroids_init=clustering.CentroidInitialization.KMEANS_PLUS_PLUS,
                                              preserve_sparsity=preserve_sparsity, cluster_per_channel=by_channel)
        return layer

    return keras.models.clone_model(model, clone_function=wrap)


def per_channel(layer):
    """Whether a layer's clusters can be per output channel: TF-MOT's own rule (Conv2D, not depthwise)."""
    return isinstance(layer, keras.layers.Conv2D)


def _large_enough(layer, clusters, by_channel):
    """Whether a kernel (`by_channel`: each of its output channels) has `clusters` positive and negative weights.

    TF-MOT's k-means++ start draws centroids from the weights (with sparsity
    kept, from the positive and the negative ones apart) and fails when there
    are fewer weights than centroids; such a kernel is too small for
    clustering to save anything, so it is left as it is.
    """
    kernel = layer.get_weights()[0]
    groups = kernel.reshape(-1, kernel.shape[-1]) if by_channel else kernel.reshape(-1, 1)
    return min(np.count_nonzero(groups > 0, axis=0).min(), np.count_nonzero(groups < 0, axis=0).min()) >= clusters


def strip(model):
    """Removes the clustering wrappers: plain layers whose kernels hold only the centroids."""
    return clustering.strip_clustering(model)


def clustered_layer_names(model):
    """Names of the layers `cluster_model` wrapped (the others were too small to cluster)."""
    return [layer.layer.name for layer in model.layers if isinstance(layer, ClusterWeights)]


def cluster_counts(model, names):
    """{layer name: distinct values in its kernel (Conv2D: the most in one output channel)} for the named layers.

    Per channel for every Conv2D, however it was clustered: that is what the
    int8 file's per-channel scales keep, and what `export.weights` reads back.
    """
    layers = {layer.name: layer for layer in model.layers}
    return {name: most_values_in_a_channel(kernel, -1) if per_channel(layers[name]) else int(np.unique(kernel).size)
            for name, kernel in prunable_kernels(model) if name in names}
