import numpy as np

from conftest import make_sentences
from lepton_tf.config import TextAugmentConfig, TextConfig
from lepton_tf.data.text import TextSplit
from lepton_tf.data.text_augment import mask_tokens, swap_neighbours, token_dropout
from lepton_tf.data.text_pipeline import make_text_dataset, token_ids
from lepton_tf.data.tokenizers import RegexTokenizer
from lepton_tf.keras import tf

ROWS = make_sentences(40)
SPLIT = TextSplit([text for _, text in ROWS], np.array([label == "positive" for label, _ in ROWS], np.int32))
TOKENIZER = RegexTokenizer.learn(SPLIT.texts, 50, 1, 12)
AUGMENTED = TextConfig(sequence_length=12, augment=TextAugmentConfig(token_dropout=0.2, swap=0.2, mask=0.2))
IDS = tf.constant([1, 5, 6, 7, 8, 9, 10, 11])


def batches(dataset):
    return [(x.numpy(), y.numpy()) for x, y in dataset]


def same(a, b):
    return len(a) == len(b) and all(np.array_equal(x[0], y[0]) and np.array_equal(x[1], y[1]) for x, y in zip(a, b))


def test_training_pipeline_is_deterministic_per_seed_and_redraws_each_epoch():
    dataset = make_text_dataset(SPLIT, TOKENIZER, 2, 8, seed=3, config=AUGMENTED)
    first, second = batches(dataset), batches(dataset)
    assert same(first, batches(make_text_dataset(SPLIT, TOKENIZER, 2, 8, seed=3, config=AUGMENTED)))
    assert not same(first, second)
    assert all(x.shape == (8, 12) and x.dtype == np.int32 for x, _ in first)


def test_evaluation_pipeline_is_the_tokenizer_output_in_order():
    got = np.concatenate([x for x, _ in batches(make_text_dataset(SPLIT, TOKENIZER, 2, 16))])
    np.testing.assert_array_equal(got, TOKENIZER(tf.constant(SPLIT.texts)).numpy())
    np.testing.assert_array_equal(got, token_ids(SPLIT.texts, TOKENIZER))


def test_dropout_deletes_tokens_but_never_start():
    out = token_dropout(IDS, 0.5, tf.constant([1, 2]), protect_first=True).numpy()
    assert out[0] == 1 and len(out) < len(IDS) and set(out) <= set(IDS.numpy())


def test_swap_only_exchanges_neighbours():
    out = swap_neighbours(IDS, 0.9, tf.constant([4, 2]), protect_first=True).numpy()
    assert sorted(out) == sorted(IDS.numpy()) and out[0] == 1 and not np.array_equal(out, IDS.numpy())
    assert np.all(np.abs(np.argsort(out) - np.argsort(IDS.numpy())) <= 1)


def test_mask_replaces_with_unknown_and_rate_zero_is_identity():
    out = mask_tokens(IDS, 0.5, tf.constant([5, 2]), protect_first=True, unknown_id=2).numpy()
    assert out[0] == 1 and set(out[out != IDS.numpy()]) == {2}
    assert np.array_equal(mask_tokens(IDS, 0.0, tf.constant([5, 2]), True, 2).numpy(), IDS.numpy())


def test_bucketing_keeps_every_example_once_at_the_fixed_length():
    config = TextConfig(sequence_length=12, bucket_by_length=True)
    got = batches(make_text_dataset(SPLIT, TOKENIZER, 2, 4, seed=0, config=config))
    rows = np.concatenate([x for x, _ in got])
    assert all(x.shape[1] == 12 for x, _ in got)
    assert sorted(map(bytes, rows)) == sorted(map(bytes, token_ids(SPLIT.texts, TOKENIZER)))


def test_unaugmented_training_pipeline_shuffles_whole_examples_each_epoch():
    plain = TextConfig(sequence_length=12)
    dataset = make_text_dataset(SPLIT, TOKENIZER, 2, 8, seed=3, config=plain)
    first, second = batches(dataset), batches(dataset)
    assert not same(first, second)  # reshuffled each epoch
    expected = {(tuple(ids), label) for ids, label in zip(token_ids(SPLIT.texts, TOKENIZER), SPLIT.labels)}
    for epoch in (first, second):
        seen = [(tuple(ids), int(np.argmax(one_hot))) for x, y in epoch for ids, one_hot in zip(x, y)]
        assert len(seen) == len(SPLIT) // 8 * 8 and set(seen) <= expected  # rows stay with their labels
