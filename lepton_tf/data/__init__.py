"""Data: loaders that turn a folder or `tfds:NAME` into decoded splits, and
the `tf.data` pipeline that augments, normalises and batches them."""
