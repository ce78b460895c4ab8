"""Keras `fit` driven by the config: optimizer, schedule, loss, callbacks, strategy."""

import csv
import logging
import os

from lepton_tf.errors import ConfigError
from lepton_tf.keras import keras, tf

log = logging.getLogger(__name__)

# Variables whose names contain these get no weight decay (norm scales/offsets, biases).
NO_DECAY_NAMES = ["_bn", "bias", "gamma", "beta"]


def make_strategy(name):
    """Returns the `tf.distribute` strategy `train.strategy` names.

    `multi_worker` reads the cluster from the `TF_CONFIG` environment variable.

    Raises:
      ConfigError: `multi_worker` without `TF_CONFIG`.
    """
    if name == "mirrored":
        return tf.distribute.MirroredStrategy()
    if name == "multi_worker":
        if "TF_CONFIG" not in os.environ:
            raise ConfigError("train.strategy=multi_worker needs the TF_CONFIG environment variable")
        return tf.distribute.MultiWorkerMirroredStrategy()
    return tf.distribute.get_strategy()


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


def training_callbacks(run_dir, stage, history_file, early_stop_patience=0):
    """Callbacks every stage uses: resume backup, checkpoint, CSV history, TensorBoard.

    Args:
      run_dir: the run folder.
      stage: 'float', 'pruned' or 'qat' — names the backup, checkpoint and log folders.
      history_file: the CSV that gets one row an epoch (appended across resumes).
      early_stop_patience: epochs without val_loss improvement before stopping; 0 = off.
    """
    callbacks = [
        # Survives a kill: the next identical command resumes from the last epoch.
        keras.callbacks.BackupAndRestore(str(run_dir / "backup" / stage)),
        keras.callbacks.ModelCheckpoint(str(run_dir / "checkpoints" / f"{stage}.weights.h5"),
                                        save_weights_only=True),
        keras.callbacks.CSVLogger(str(history_file), append=True),
        keras.callbacks.TensorBoard(str(run_dir / "logs" / stage), write_graph=False, profile_batch=0),
    ]
    if early_stop_patience > 0:
        callbacks.append(keras.callbacks.EarlyStopping(
            monitor="val_loss", patience=early_stop_patience, restore_best_weights=True))
    return callbacks


def fit(model, train_data, val_data, epochs, callbacks, verbose=1):
    """Runs `model.fit` and returns its history dict."""
    history = model.fit(train_data, validation_data=val_data, epochs=epochs,
                        callbacks=callbacks, verbose=verbose)
    return history.history


def read_history(path):
    """Reads a CSVLogger file into {column: [floats]} (epochs of every resumed attempt)."""
    with open(path, newline="") as handle:
        rows = list(csv.DictReader(handle))
    return {key: [float(row[key]) for row in rows if row.get(key)] for key in (rows[0] if rows else {})}
