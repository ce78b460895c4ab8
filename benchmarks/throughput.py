"""How fast the input pipeline delivers, and how much of a training step waits for it."""

import time

from lepton_tf.keras import keras


def pipeline_examples_per_second(dataset, batches=40):
    """Examples a second the `tf.data` pipeline delivers on its own (no model), after one warm-up batch."""
    iterator = iter(dataset.repeat())
    next(iterator)  # fills the shuffle buffer and starts prefetching
    count = 0
    start = time.perf_counter()
    for _ in range(batches):
        features, _ = next(iterator)
        count += int(features.shape[0])
    return count / (time.perf_counter() - start)


class _StepClock(keras.callbacks.Callback):
    """Wall time from the start of step `skip` to the end of the last step."""

    def __init__(self, skip):
        super().__init__()
        self.skip = skip
        self.start = self.end = None

    def on_train_batch_begin(self, batch, logs=None):
        if batch == self.skip:
            self.start = time.perf_counter()

    def on_train_batch_end(self, batch, logs=None):
        self.end = time.perf_counter()


def _timed_steps(model, dataset, steps, skip):
    clock = _StepClock(skip)
    model.fit(dataset.repeat(), steps_per_epoch=steps, epochs=1, verbose=0, callbacks=[clock])
    return (clock.end - clock.start) / (steps - skip)


def training_step_profile(model, dataset, batch_size, steps=30, skip=5):
    """Seconds a training step takes with the real pipeline and with one batch cached in memory.

    The difference is the time a step waits for input: the model, optimizer
    and batch size are the same, only where the batch comes from changes.
    The first `skip` steps (tracing, buffer fill) are not timed.

    Args:
      model: a compiled Keras model (its weights change; pass a throwaway copy).
      dataset: the training `tf.data.Dataset` of (features, labels) batches.
      batch_size: examples in a batch.

    Returns:
      {"examples_per_second", "step_seconds", "compute_step_seconds", "input_wait_fraction"}
    """
    real = _timed_steps(model, dataset, steps, skip)
    cached = _timed_steps(model, dataset.take(1).cache(), steps, skip)
    return {"examples_per_second": batch_size / real, "step_seconds": real, "compute_step_seconds": cached,
            "input_wait_fraction": max(0.0, 1.0 - cached / real)}
