"""Text classifiers over int32 token ids [batch, sequence_length], QAT-aware.

TF-MOT's default 8-bit scheme cannot quantize `Embedding`, `Conv1D`,
`LayerNormalization` or `MultiHeadAttention`, so: 1-D convolutions are
`Conv2D` over a `[sequence, 1, embedding]` tensor, and QAT annotates only the
layers TF-MOT supports (`lepton_tf.optimize.qat`); the rest are quantized by
the converter's full-integer pass. Every model ends in a float32 softmax
named `probabilities`.
"""

from lepton_tf.keras import keras, tf

layers = keras.layers


def _inputs(sequence_length):
    return keras.Input((sequence_length,), dtype="int32", name="token_ids")


def _head(x, num_classes, dropout):
    if dropout > 0:
        x = layers.Dropout(dropout, name="dropout")(x)
    x = layers.Dense(num_classes, name="logits")(x)
    return layers.Activation("softmax", dtype="float32", name="probabilities")(x)


def average_embedding(sequence_length, vocabulary_size, num_classes, embedding_dim=16, hidden=16, dropout=0.2):
    """Average word embedding → Dense(relu) → softmax (MediaPipe Model Maker's baseline shape).

    Args:
      sequence_length: token ids an example.
      vocabulary_size: rows of the embedding table.
      num_classes: output classes.
      embedding_dim: embedding width.
      hidden: units of the hidden dense layer.
      dropout: rate before the classifier.
    """
    inputs = _inputs(sequence_length)
    x = layers.Embedding(vocabulary_size, embedding_dim, name="embedding")(inputs)
    x = layers.GlobalAveragePooling1D(name="pool")(x)
    x = layers.Dense(hidden, activation="relu", name="hidden")(x)
    return keras.Model(inputs, _head(x, num_classes, dropout), name="average_embedding")


def kim_cnn(sequence_length, vocabulary_size, num_classes, embedding_dim=128, filters=100,
            kernel_sizes=(3, 4, 5), dropout=0.5):
    """Multi-width convolutional sentence classifier (Kim, 2014, CNN-rand).

    Each width is a `Conv2D` with kernel (k, 1) over `[sequence, 1, embedding]`
    (quantizable, unlike Conv1D) with its ReLU inside, then max over time.
    The ReLU must stay inside the Conv2D: TF-MOT 0.8's `LayerReLUQuantize`
    transform gives a Conv2D followed by a separate ReLU layer a no-op
    quantize config, which silently skips its weights in QAT.
    """
    inputs = _inputs(sequence_length)
    x = layers.Embedding(vocabulary_size, embedding_dim, name="embedding")(inputs)
    x = layers.Reshape((sequence_length, 1, embedding_dim), name="as_image")(x)
    branches = []
    for width in kernel_sizes:
        branch = layers.Conv2D(filters, (width, 1), activation="relu", name=f"conv{width}")(x)
        branches.append(layers.GlobalMaxPooling2D(name=f"conv{width}_max")(branch))
    x = layers.Concatenate(name="concat")(branches)
    return keras.Model(inputs, _head(x, num_classes, dropout), name="kim_cnn")


@keras.utils.register_keras_serializable(package="lepton")
class PositionEmbedding(layers.Layer):
    """Adds a learned embedding of each position to a [batch, sequence, dim] tensor."""

    def __init__(self, sequence_length, **kwargs):
        super().__init__(**kwargs)
        self.sequence_length = sequence_length

    def build(self, input_shape):
        self.positions = self.add_weight("positions", shape=(self.sequence_length, input_shape[-1]),
                                         initializer=keras.initializers.RandomNormal(stddev=0.02))

    def call(self, inputs):
        return inputs + tf.cast(self.positions[: tf.shape(inputs)[1]], inputs.dtype)

    def get_config(self):
        return {**super().get_config(), "sequence_length": self.sequence_length}


def transformer(sequence_length, vocabulary_size, num_classes, embedding_dim=64, num_layers=2, num_heads=2,
                feed_forward=128, dropout=0.1):
    """A small Transformer encoder (post-norm blocks), mean-pooled into a classifier."""
    inputs = _inputs(sequence_length)
    x = layers.Embedding(vocabulary_size, embedding_dim, name="embedding")(inputs)
    x = PositionEmbedding(sequence_length, name="positions")(x)
    for block in range(num_layers):
        attention = layers.MultiHeadAttention(num_heads, embedding_dim // num_heads, dropout=dropout,
                                              name=f"block{block}_attention")(x, x)
        x = layers.LayerNormalization(name=f"block{block}_norm1")(layers.Add(name=f"block{block}_add1")([x, attention]))
        hidden = layers.Dense(feed_forward, activation="relu", name=f"block{block}_ff1")(x)
        hidden = layers.Dense(embedding_dim, name=f"block{block}_ff2")(hidden)
        x = layers.LayerNormalization(name=f"block{block}_norm2")(layers.Add(name=f"block{block}_add2")([x, hidden]))
    x = layers.GlobalAveragePooling1D(name="pool")(x)
    return keras.Model(inputs, _head(x, num_classes, dropout), name="transformer")
