"""Weight clustering with TF-MOT: every kernel shares a few distinct values (cluster, then CQAT / PCQAT).

Batch norms are folded into the convolutions *before* clustering: folding
scales each output channel by its own factor, so clustering first would
leave up to clusters x channels distinct values per kernel, and TF-MOT's
cluster-preserving QAT, which finds a kernel's clusters from its distinct
values (and gives up above 1,024), would not keep them (TF-MOT issue #1056).
"""

import numpy as np

from lepton_tf.keras import keras, tfmot
from lepton_tf.optimize.prune import prunable_kernels

clustering = tfmot.clustering.keras
CLUSTERED_TYPES = (keras.layers.Conv2D, keras.layers.Dense, keras.layers.DepthwiseConv2D, keras.layers.Embedding)


def cluster_model(model, clusters, preserve_sparsity):
    """Wraps each convolution, dense and embedding layer with `cluster_weights` (k-means++ centroids).

    Args:
      model: a trained functional model, batch norms already folded.
      clusters: distinct values each kernel (or embedding table) may hold.
      preserve_sparsity: keep pruned zeros at zero (one centroid pinned at 0), for PCQAT.

    Returns:
      The wrapped model (fine-tune it, then `strip`). Kernels with fewer
      positive or negative weights than `clusters` stay unclustered. An embedding table is
      most of a text model; QAT leaves it float and frozen, so its clusters
      reach the file through the converter's int8 table.
    """
    def wrap(layer):
        if isinstance(layer, CLUSTERED_TYPES) and _large_enough(layer, clusters):
            return clustering.cluster_weights(layer, number_of_clusters=clusters,
                                              cluster_centroids_init=clustering.CentroidInitialization.KMEANS_PLUS_PLUS,
                                              preserve_sparsity=preserve_sparsity)
        return layer

    return keras.models.clone_model(model, clone_function=wrap)


def _large_enough(layer, clusters):
    """Whether a kernel has at least `clusters` positive and negative weights each.

    TF-MOT's k-means++ start draws a kernel's centroids from its weights (with
    sparsity kept, from the positive and the negative ones apart) and fails
    when there are fewer weights than centroids; such a kernel is too small
    for clustering to save anything, so it is left as it is.
    """
    kernel = layer.get_weights()[0]
    return min(np.count_nonzero(kernel > 0), np.count_nonzero(kernel < 0)) >= clusters


def strip(model):
    """Removes the clustering wrappers: plain layers whose kernels hold only the centroids."""
    return clustering.strip_clustering(model)


def cluster_counts(model):
    """{layer name: distinct values in its kernel} for the clustered layer types."""
    names = {getattr(layer, "layer", layer).name for layer in model.layers
             if isinstance(getattr(layer, "layer", layer), CLUSTERED_TYPES)}
    return {name: int(np.unique(kernel).size) for name, kernel in prunable_kernels(model) if name in names}
