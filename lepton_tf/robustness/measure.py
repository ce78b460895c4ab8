"""Runs exported files on perturbed test sets: each set is made once, run by every file, then dropped."""

import logging

import numpy as np
from tqdm import tqdm

from lepton_tf.robustness.summary import robustness_entry

log = logging.getLogger(__name__)


def measure(classifiers, sets, batch_size, seed):
    """{file: robustness entry} of every classifier on `sets` and on the same examples unperturbed.

    Args:
      classifiers: {file: (classifier with `predict(inputs, batch_size)`, True when it takes a server's
        inputs (`PerturbedSet.serving`) rather than a TFLite file's)}.
      sets: the task's `robustness.PerturbedTestSets`.
      batch_size: examples per `predict` batch.
      seed: the seed the sets were made with (recorded in each entry).

    A progress bar (on a terminal) counts the sets, which for images take
    most of the time: 75 of them, each run through every file.
    """
    makers = {"clean": sets.clean, **sets.makers}
    accuracies = {name: {} for name in classifiers}
    log.info("robustness: %d files on %d perturbed sets (%s)", len(classifiers), len(sets.makers), sets.description)
    for set_name in tqdm(makers, desc="robustness", unit="set", disable=None):
        perturbed = makers[set_name]()
        for name, (classifier, serving) in classifiers.items():
            probabilities = classifier.predict(perturbed.serving if serving else perturbed.tflite, batch_size)
            accuracies[name][set_name] = round(float(np.mean(np.argmax(probabilities, axis=-1) == perturbed.labels)), 5)
    return {name: robustness_entry(figures.pop("clean"), figures, seed, sets.description, sets.examples)
            for name, figures in accuracies.items()}
