"""Keras `fit` driven by the config: optimizer, schedule, loss, callbacks."""

import csv
import logging
import math
from pathlib import Path

from lepton_tf.errors import ConfigError, TrainingError
from lepton_tf.fileio import atomic_path
from lepton_tf.keras import keras

log = logging.getLogger(__name__)

# Variables whose names contain these get no weight decay (norm scales/offsets, biases).
NO_DECAY_NAMES = ["_bn", "bias", "gamma", "beta"]


def make_optimizer(name, learning_rate, weight_decay, momentum=0.9):
    """SGD with Nesterov momentum or AdamW, with decoupled weight decay off norms and biases."""
    if name == "sgd":
        optimizer = keras.optimizers.SGD(learning_rate, momentum=momentum, nesterov=True,
                                         weight_decay=weight_decay or None)
    elif name == "adamw":
        optimizer = keras.optimizers.AdamW(learning_rate, weight_decay=weight_decay)
    else:
        raise ConfigError(f"unknown optimizer '{name}'")
    optimizer.exclude_from_weight_decay(var_names=NO_DECAY_NAMES)
    return optimizer


def compile_model(model, optimizer, label_smoothing=0.0, jit_compile=False):
    """Compiles for one-hot (possibly mixed) labels with top-1 accuracy."""
    model.compile(
        optimizer=optimizer,
        loss=keras.losses.CategoricalCrossentropy(label_smoothing=label_smoothing),
        metrics=[keras.metrics.CategoricalAccuracy(name="accuracy")],
        jit_compile=jit_compile)


class AtomicWeightsCheckpoint(keras.callbacks.Callback):
    """Saves the weights at every epoch end under a temporary name, then renames it into place.

    Keras' `ModelCheckpoint` writes the final file directly, so a kill during
    the write would leave a truncated `.h5` that looks complete.
    """

    def __init__(self, path):
        super().__init__()
        self.path = Path(path)

    def on_epoch_end(self, epoch, logs=None):
        with atomic_path(self.path, suffix=".weights.h5") as tmp:
            self.model.save_weights(str(tmp))


def training_callbacks(run_dir, stage, history_file, early_stop_patience=0, backup_steps=0, backup_root=None):
    """Callbacks every stage uses: resume backup, checkpoint, CSV history, TensorBoard.

    Args:
      run_dir: the folder this process writes (the run folder, or a worker's scratch folder).
      stage: 'float', 'pruned' or 'qat' — names the backup, checkpoint and log folders.
      history_file: the CSV that gets one row an epoch (appended across resumes).
      early_stop_patience: epochs without val_loss improvement before stopping; 0 = off.
      backup_steps: back up every this many steps (a killed run resumes mid-epoch); 0 = every epoch end.
      backup_root: the run folder whose `backup/` every worker shares (default `run_dir`); Keras
        makes non-chief workers write theirs to a temporary sub-folder it removes.
    """
    backup = Path(backup_root or run_dir) / "backup" / stage
    callbacks = [
        # Survives a kill: the next identical command resumes from the last backup.
        keras.callbacks.BackupAndRestore(str(backup), save_freq=backup_steps or "epoch"),
        AtomicWeightsCheckpoint(Path(run_dir) / "checkpoints" / f"{stage}.weights.h5"),
        keras.callbacks.CSVLogger(str(history_file), append=True),
        keras.callbacks.TensorBoard(str(Path(run_dir) / "logs" / stage), write_graph=False, profile_batch=0),
    ]
    if early_stop_patience > 0:
        callbacks.append(keras.callbacks.EarlyStopping(
            monitor="val_loss", patience=early_stop_patience, restore_best_weights=True))
    return callbacks


class NonFiniteLossGuard(keras.callbacks.Callback):
    """Stops `fit` at the first batch whose loss is NaN or infinite, and remembers where."""

    def __init__(self):
        super().__init__()
        self.epoch = 0
        self.found = None  # (epoch, batch, loss) once tripped

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch = epoch

    def on_train_batch_end(self, batch, logs=None):
        loss = (logs or {}).get("loss")
        if loss is not None and not math.isfinite(float(loss)):
            self.found = (self.epoch + 1, batch + 1, float(loss))
            self.model.stop_training = True


def fit(model, train_data, val_data, epochs, callbacks, verbose=1, initial_epoch=0):
    """Runs `model.fit` (epochs `initial_epoch` to `epochs`) and returns its history dict.

    Raises:
      TrainingError: the loss became NaN or infinite (the weights are then unusable).
    """
    guard = NonFiniteLossGuard()
    history = model.fit(train_data, validation_data=val_data, epochs=epochs, initial_epoch=initial_epoch,
                        callbacks=[guard, *callbacks], verbose=verbose)
    if guard.found:
        epoch, batch, loss = guard.found
        raise TrainingError(
            f"the training loss became {loss} at epoch {epoch}, step {batch}: training diverged and the "
            f"weights are unusable; lower the learning rate (train.learning_rate, or optimize.learning_rate for "
            f"pruning and QAT) or check the data for extreme values, then run the command again")
    return history.history


def read_history(path):
    """Reads a CSVLogger file into {column: [floats]}, one value an epoch.

    A run killed after an epoch's row was written but before its next backup
    repeats that epoch when resumed; the last attempt of each epoch counts.
    """
    with open(path, newline="") as handle:
        rows = [row for row in csv.DictReader(handle) if row.get("epoch")]
    last_attempt = {int(row["epoch"]): row for row in rows}
    rows = [last_attempt[epoch] for epoch in sorted(last_attempt)]
    return {key: [float(row[key]) for row in rows if row.get(key)] for key in (rows[0] if rows else {})}
