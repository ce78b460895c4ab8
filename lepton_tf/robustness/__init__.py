"""Robustness of exported files: seeded, deterministic perturbations of test inputs."""

import typing

import numpy as np

AUTO = -1  # export.robustness_examples: the task's default count


class PerturbedSet(typing.NamedTuple):
    """One perturbed copy of (part of) the test split, in the two forms exported files take."""

    tflite: typing.Any  # what every TFLite file takes (token ids, RGB pixels)
    serving: list  # what a server client sends to the SavedModel (UTF-8 sentences, encoded images)
    labels: np.ndarray


class PerturbedTestSets(typing.NamedTuple):
    """A task's perturbed test sets, each made when asked for: image sets are large, so one at a time."""

    description: str  # for the report: which perturbations, which constants, how many examples
    examples: int  # test examples in every set
    clean: typing.Callable  # function() -> PerturbedSet of the same examples, unperturbed
    makers: dict  # {set name: function() -> PerturbedSet}


def subset_indices(size, count, seed):
    """Sorted indices of `count` of `size` test examples (all when count ≥ size), fixed by `seed`."""
    if count >= size:
        return np.arange(size)
    return np.sort(np.random.default_rng([seed, size, count]).choice(size, count, replace=False))
