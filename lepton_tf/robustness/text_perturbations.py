"""Sentence perturbations that phone keyboards and real users produce.

Each perturbation is a function `(sentence, numpy Generator) -> sentence`;
`perturb(texts, name, seed)` applies one to a list of sentences. The result is
deterministic: sentence `i` draws from a generator seeded with
`(seed, name, i)`, so the same seed always gives the same text, and a sentence
is perturbed the same way whichever other sentences come with it.

The perturbations (PERTURBATIONS):
- `typos_2pct`, `typos_8pct`: each letter, with that probability, becomes a
  keyboard typo: a QWERTY neighbour, a dropped letter, a doubled letter (a
  sticky key) or a swap with the next letter, one of the four at random. 2% is
  a careful typist; 8% is hurried thumb typing.
- `case`: each word, with probability 1/2, written in UPPER or Title case
  (auto-capitalisation, shouting).
- `no_punctuation`: every punctuation character removed.
- `word_drops`: each word dropped with probability 0.1 (at least one word is
  kept; punctuation is not a word here, and stays).
- `unknown_words`: each word, with probability 0.1, replaced by a made-up word
  (letters and digits no vocabulary learned from real text holds): misspelt
  names, slang, words the training data never had.
"""

import string
import unicodedata
import zlib

import numpy as np

KEYBOARD_ROWS = ("qwertyuiop", "asdfghjkl", "zxcvbnm")
WORD_DROP_RATE = 0.1
UNKNOWN_WORD_RATE = 0.1


def _keyboard_neighbours():
    """Letter -> the letters next to it on a QWERTY keyboard (same row and the rows above and below)."""
    position = {letter: (row, column) for row, letters in enumerate(KEYBOARD_ROWS)
                for column, letter in enumerate(letters)}
    return {letter: "".join(other for other, (r, c) in position.items()
                            if other != letter and abs(r - row) <= 1 and abs(c - column) <= 1)
            for letter, (row, column) in position.items()}


NEIGHBOURS = _keyboard_neighbours()


def typos(rate):
    """A perturbation that turns each letter into a keyboard typo with probability `rate`."""

    def perturb(text, rng):
        letters = list(text)
        out, index = [], 0
        while index < len(letters):
            letter = letters[index]
            if letter.lower() not in NEIGHBOURS or rng.random() >= rate:
                out.append(letter)
                index += 1
                continue
            kind = rng.integers(4)
            if kind == 0:  # a neighbouring key, in the letter's case
                neighbour = rng.choice(list(NEIGHBOURS[letter.lower()]))
                out.append(neighbour.upper() if letter.isupper() else neighbour)
            elif kind == 2:  # a sticky key
                out.extend([letter, letter])
            elif kind == 3 and index + 1 < len(letters):  # swapped with the next character
                out.extend([letters[index + 1], letter])
                index += 1
            # kind 1 (or a swap at the end): the letter is dropped
            index += 1
        return "".join(out)

    return perturb


def change_case(text, rng):
    """Each word, with probability 1/2, in UPPER or Title case."""
    words = text.split(" ")
    for index, word in enumerate(words):
        if rng.random() < 0.5:
            words[index] = word.upper() if rng.random() < 0.5 else word.capitalize()
    return " ".join(words)


def remove_punctuation(text, rng):
    """Every punctuation character (Unicode category P*) removed; the draws of `rng` are not used."""
    del rng
    return "".join(c for c in text if not unicodedata.category(c).startswith("P"))


def _is_word(token):
    return any(c.isalnum() for c in token)


def drop_words(text, rng):
    """Each word dropped with probability WORD_DROP_RATE (punctuation stays); at least one word is kept."""
    tokens = text.split()
    dropped = {index for index, token in enumerate(tokens) if _is_word(token) and rng.random() < WORD_DROP_RATE}
    words = [index for index, token in enumerate(tokens) if _is_word(token)]
    if words and dropped.issuperset(words):
        dropped.discard(words[rng.integers(len(words))])
    return " ".join(token for index, token in enumerate(tokens) if index not in dropped)


def unknown_words(text, rng):
    """Each word, with probability UNKNOWN_WORD_RATE, replaced by a made-up word.

    Made-up words are 'qx' or 'zq' (letter pairs English words do not hold),
    then 4 to 7 random letters and a digit: no vocabulary learned from real text
    knows them.
    """
    tokens = text.split()
    alphabet = list(string.ascii_lowercase)
    for index, token in enumerate(tokens):
        if _is_word(token) and rng.random() < UNKNOWN_WORD_RATE:
            middle = "".join(rng.choice(alphabet, size=rng.integers(4, 8)))
            tokens[index] = f"{rng.choice(['qx', 'zq'])}{middle}{rng.integers(10)}"
    return " ".join(tokens)


PERTURBATIONS = {
    "typos_2pct": typos(0.02),
    "typos_8pct": typos(0.08),
    "case": change_case,
    "no_punctuation": remove_punctuation,
    "word_drops": drop_words,
    "unknown_words": unknown_words,
}


def perturb(texts, name, seed=0):
    """The sentences `texts` with perturbation `name` applied, deterministically for `seed`.

    Raises:
      KeyError: `name` is not in PERTURBATIONS (the message lists the known names).
    """
    if name not in PERTURBATIONS:
        raise KeyError(f"unknown text perturbation {name!r}; known: {', '.join(PERTURBATIONS)}")
    function, salt = PERTURBATIONS[name], zlib.crc32(name.encode("utf-8"))
    return [function(text, np.random.default_rng([seed, salt, index])) for index, text in enumerate(texts)]
