"""Text augmentation on a sentence's token ids (1-D int32), as stateless TF ops.

`protect_first` keeps position 0 untouched (the `<START>` token of the regex
tokenizer).
"""

from lepton_tf.keras import tf


def _draws(ids, seed):
    return tf.random.stateless_uniform(tf.shape(ids), seed)


def _not_first(ids, protect_first):
    positions = tf.range(tf.shape(ids)[0])
    return positions > 0 if protect_first else tf.ones_like(positions, tf.bool)


def token_dropout(ids, rate, seed, protect_first):
    """Deletes each token with probability `rate`."""
    drop = (_draws(ids, seed) < rate) & _not_first(ids, protect_first)
    return tf.boolean_mask(ids, ~drop)


def swap_neighbours(ids, rate, seed, protect_first):
    """Swaps a token with its right neighbour with probability `rate` (non-overlapping pairs)."""
    length = tf.shape(ids)[0]
    chosen = (_draws(ids, seed) < rate) & _not_first(ids, protect_first)
    chosen &= tf.range(length) < length - 1  # the last token has no right neighbour
    previous = tf.concat([[False], chosen[:-1]], axis=0)
    chosen &= ~previous  # a token already moved right is not swapped again
    moved_in = tf.concat([[False], chosen[:-1]], axis=0)
    positions = tf.range(length)
    source = tf.where(chosen, positions + 1, tf.where(moved_in, positions - 1, positions))
    return tf.gather(ids, source)


def mask_tokens(ids, rate, seed, protect_first, unknown_id):
    """Replaces each token with the unknown token with probability `rate`."""
    masked = (_draws(ids, seed) < rate) & _not_first(ids, protect_first)
    return tf.where(masked, tf.cast(unknown_id, ids.dtype), ids)


def augment_ids(ids, seed, config, protect_first, unknown_id):
    """Applies dropout, swap and mask (each off at rate 0) to one sentence's ids."""
    seeds = tf.random.experimental.stateless_split(seed, num=3)
    if config.token_dropout > 0:
        ids = token_dropout(ids, config.token_dropout, seeds[0], protect_first)
    if config.swap > 0:
        ids = swap_neighbours(ids, config.swap, seeds[1], protect_first)
    if config.mask > 0:
        ids = mask_tokens(ids, config.mask, seeds[2], protect_first, unknown_id)
    return ids
