"""Text perturbations for robustness reports: deterministic, and each does what its name says."""

import string

import numpy as np
import pytest

from lepton_tf.robustness.text_perturbations import NEIGHBOURS, PERTURBATIONS, perturb, typos

from conftest import make_sentences

SENTENCES = [text for _, text in make_sentences(200, seed=3)] + ["What is the capital of France ?", "ok"]


@pytest.mark.parametrize("name", sorted(PERTURBATIONS))
def test_the_same_seed_gives_the_same_sentences_and_another_seed_others(name):
    first = perturb(SENTENCES, name, seed=5)
    assert first == perturb(SENTENCES, name, seed=5)
    assert len(first) == len(SENTENCES)
    if name != "no_punctuation":  # the one perturbation that draws nothing
        assert first != perturb(SENTENCES, name, seed=6)


def test_a_sentence_is_perturbed_the_same_way_in_a_subset():
    whole = perturb(SENTENCES, "typos_8pct", seed=1)
    assert perturb(SENTENCES[:10], "typos_8pct", seed=1) == whole[:10]


@pytest.mark.parametrize("rate", [0.02, 0.08])
def test_typo_rates_are_what_their_names_say(rate):
    # A word of 8 letters escapes untouched with probability (1 - rate) ** 8 (a doubled
    # letter swapped with an identical neighbour could hide a typo: "keyboard" has none).
    rng = np.random.default_rng(0)
    changed = np.mean([typos(rate)("keyboard", rng) != "keyboard" for _ in range(4000)])
    assert changed == pytest.approx(1 - (1 - rate) ** 8, abs=0.03)
    assert typos(0.0)(" ".join(SENTENCES), rng) == " ".join(SENTENCES)


def test_a_typo_substitute_is_a_keyboard_neighbour():
    for seed in range(200):
        typed = typos(1.0)("g", np.random.default_rng(seed))
        assert typed in {"", "gg"} | set(NEIGHBOURS["g"])


def test_case_changes_only_case_and_punctuation_removal_only_punctuation():
    cased = perturb(SENTENCES, "case", seed=0)
    assert [text.lower() for text in cased] == [text.lower() for text in SENTENCES]
    assert cased != SENTENCES
    bare = perturb(SENTENCES, "no_punctuation", seed=0)
    assert not any(c in string.punctuation for text in bare for c in text)
    assert [text.split() for text in bare] == [[w for w in (t.translate(str.maketrans("", "", string.punctuation))
                                                             .split())] for t in SENTENCES]


def test_word_drops_keep_order_and_at_least_one_word():
    for original, dropped in zip(SENTENCES, perturb(SENTENCES, "word_drops", seed=0)):
        words = dropped.split()
        assert words, original
        remaining = iter(original.split())
        assert all(word in remaining for word in words)  # a subsequence of the original
    assert perturb(["ok"], "word_drops", seed=0) == ["ok"]


def test_unknown_words_map_to_the_unknown_id_of_a_learned_vocabulary():
    from lepton_tf.data.text_pipeline import token_ids
    from lepton_tf.data.tokenizers import RegexTokenizer

    tokenizer = RegexTokenizer.learn(SENTENCES, 1000, 1, 16)
    swapped = perturb(SENTENCES, "unknown_words", seed=0)
    made_up = [w for text, original in zip(swapped, SENTENCES)
               for w in text.split() if w not in original.split()]
    assert made_up, "a 0.1 rate over 200 sentences must replace some words"
    ids = token_ids(made_up, tokenizer)[:, 1]  # after <START>
    assert set(ids.tolist()) == {tokenizer.unknown_id}


def test_an_unknown_perturbation_names_the_known_ones():
    with pytest.raises(KeyError, match="typos_2pct"):
        perturb(SENTENCES, "emoji", seed=0)
