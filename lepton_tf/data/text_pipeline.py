"""The `tf.data` pipeline for text: tokenise once → shuffle → augment → pad → batch → prefetch."""

import numpy as np

from lepton_tf.data.pipeline import finish
from lepton_tf.data.text_augment import augment_ids
from lepton_tf.data.tokenizers import pad_ids
from lepton_tf.keras import tf

AUTOTUNE = tf.data.AUTOTUNE


def token_ids(texts, tokenizer, ragged=False, chunk=4096):
    """Tokenises a list of strings: padded int32 numpy [N, length], or a RaggedTensor."""
    parts = [tokenizer.ragged_ids(tf.constant(texts[i:i + chunk])) for i in range(0, len(texts), chunk)]
    if not parts:
        return np.zeros((0, tokenizer.sequence_length), np.int32)
    joined = tf.concat(parts, axis=0)
    return joined if ragged else pad_ids(joined, tokenizer.sequence_length).numpy()


def augments(augment):
    """True when a `TextAugmentConfig` changes any example."""
    return bool(augment.token_dropout or augment.swap or augment.mask)


def make_text_dataset(split, tokenizer, num_classes, batch_size, seed=0, config=None):
    """Builds a batched dataset of (int32 ids [B, sequence_length], one-hot labels).

    Args:
      split: a `TextSplit`.
      tokenizer: a tokenizer from `lepton_tf.data.tokenizers`.
      num_classes: length of the one-hot labels.
      batch_size: examples a batch.
      seed: shuffle and augmentation seed (each epoch redraws deterministically).
      config: the `TextConfig` for training (augmentation, bucketing); None
        for evaluation (no shuffle, no augmentation).
    """
    one_hot = lambda labels: tf.one_hot(labels, num_classes, dtype=tf.float32)  # noqa: E731
    length = tokenizer.sequence_length
    drop = len(split) >= batch_size
    if config is None or not (augments(config.augment) or config.bucket_by_length):
        # Nothing changes per example: (shuffle) padded rows and one-hot whole batches. Small
        # text models step in a millisecond or two, and per-example work would make them wait.
        dataset = tf.data.Dataset.from_tensor_slices((token_ids(split.texts, tokenizer), split.labels))
        if config is not None:
            dataset = dataset.shuffle(len(split), seed=seed, reshuffle_each_iteration=True)
        dataset = dataset.batch(batch_size, drop_remainder=config is not None and drop)
        return finish(dataset.map(lambda x, y: (x, one_hot(y)), num_parallel_calls=AUTOTUNE))
    dataset = tf.data.Dataset.from_tensor_slices((token_ids(split.texts, tokenizer, ragged=True), split.labels))
    dataset = dataset.shuffle(len(split), seed=seed, reshuffle_each_iteration=True)
    seeds = tf.data.Dataset.random(seed=seed, rerandomize_each_iteration=True).batch(2)
    protect_first = tokenizer.kind == "regex"

    def prepare(pair, example_seed):
        ids, label = pair
        ids = augment_ids(ids, example_seed, config.augment, protect_first, tokenizer.unknown_id)[:length]
        return ids, one_hot(label)

    dataset = tf.data.Dataset.zip((dataset, seeds)).map(prepare, num_parallel_calls=AUTOTUNE)
    if config.bucket_by_length:
        # Groups sentences of similar length; batches stay padded to sequence_length
        # so training sees the same fixed shape the exported files take.
        boundaries = [b for b in (8, 16, 32, 64, 128) if b < length]
        dataset = dataset.bucket_by_sequence_length(
            lambda ids, _: tf.shape(ids)[0], boundaries, [batch_size] * (len(boundaries) + 1),
            padded_shapes=([length], [num_classes]), drop_remainder=drop)
    else:
        dataset = dataset.padded_batch(batch_size, padded_shapes=([length], [num_classes]), drop_remainder=drop)
    return finish(dataset)
