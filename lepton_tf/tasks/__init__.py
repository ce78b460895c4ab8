"""Tasks: what differs between image and text classification, behind one interface.

A task holds a loaded data set and its preprocessing (image normalisation or
a tokenizer) and knows how to build the model, the `tf.data` pipelines, the
numpy inputs of exported files, the SavedModel's serving module and the
model card's `input` section. The stages (`lepton_tf.stages`) only talk to
this interface.
"""

from lepton_tf.data.text import TextData
from lepton_tf.tasks.image import ImageTask
from lepton_tf.tasks.text import TextTask


def new_task(data, config):
    """A task for freshly loaded data: measures normalisation / learns the vocabulary."""
    return (TextTask if isinstance(data, TextData) else ImageTask).fresh(data, config)


def reopen_task(data, run, config):
    """A task with the preprocessing recorded in a run folder (model card, vocab.txt)."""
    return (TextTask if isinstance(data, TextData) else ImageTask).reopen(data, run, config)
