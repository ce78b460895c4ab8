"""Robustness of exported files: seeded, deterministic perturbations of test inputs."""

import typing


class PerturbedSet(typing.NamedTuple):
    """One perturbed copy of the test split, in the two forms exported files take."""

    tflite: typing.Any  # what every TFLite file takes (token ids, normalised images)
    serving: list  # what a server client sends to the SavedModel (UTF-8 sentences, encoded images)
