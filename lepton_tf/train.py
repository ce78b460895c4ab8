"""Keras `fit` driven by the config: optimizer, schedule, loss, callbacks."""

import csv
import logging
import math
from pathlib import Path

from lepton_tf.errors import ConfigError, TrainingError
from lepton_tf.fileio import atomic_path
from lepton_tf.keras import keras, tf

log = logging.getLogger(__name__)

# Variables whose names contain these get no weight decay (norm scales/offsets, biases).
NO_DECAY_NAMES = ["_bn", "bias", "gamma", "beta"]


def make_optimizer(name, learning_rate, weight_decay, momentum=0.9, learning_rate_scales=None):
    """SGD with Nesterov momentum or AdamW, with decoupled weight decay off norms and biases.

    Args:
      learning_rate_scales: SGD only: {variable-name fragment: factor} for the
        step of matching variables; a factor of 0 freezes them (and exempts them from decay).
    """
    scales = dict(learning_rate_scales or {})
    if name == "sgd":
        optimizer = ScaledSGD(learning_rate, momentum=momentum, nesterov=True, weight_decay=weight_decay or None,
                              learning_rate_scales=scales)
    elif name == "adamw":
        if any(scale != 1.0 for scale in scales.values()):
            log.warning("learning-rate scales (%s) apply to SGD only; AdamW ignores them", scales)
        optimizer = keras.optimizers.AdamW(learning_rate, weight_decay=weight_decay)
    else:
        raise ConfigError(f"unknown optimizer '{name}'")
    frozen = [fragment for fragment, scale in scales.items() if scale == 0]
    optimizer.exclude_from_weight_decay(var_names=NO_DECAY_NAMES + frozen)
    return optimizer


@keras.utils.register_keras_serializable(package="lepton")
class ScaledSGD(keras.optimizers.SGD):
    """SGD whose step for some variables is scaled: momentum SGD is linear in the
    gradient, so scaling a variable's gradient scales its learning rate (decoupled
    weight decay, applied separately, is unchanged)."""

    def __init__(self, learning_rate=0.01, learning_rate_scales=None, **kwargs):
        super().__init__(learning_rate, **kwargs)
        self.learning_rate_scales = dict(learning_rate_scales or {})

    def update_step(self, gradient, variable):
        scale = scale_for(variable.name, self.learning_rate_scales)
        if scale != 1.0:
            gradient = gradient * tf.cast(scale, gradient.dtype)
        super().update_step(gradient, variable)

    def get_config(self):
        return {**super().get_config(), "learning_rate_scales": self.learning_rate_scales}


def scale_for(variable_name, scales):
    """The product of the factors of every fragment in `scales` that `variable_name` contains (1 if none)."""
    factor = 1.0
    for fragment, scale in scales.items():
        if fragment in variable_name:
            factor *= scale
    return factor


def norm_offset_scales(model, scale):
    """{variable name: `scale`} for the batch-norm offsets (betas) of `model`; {} when `scale` is 1."""
    if scale == 1.0:
        return {}
    return {variable.name.split(":")[0]: scale for layer in model.layers
            if isinstance(layer, keras.layers.BatchNormalization) and layer.center
            for variable in [layer.beta]}


class Lookahead(keras.callbacks.Callback):
    """airbench's lookahead (Jordan, 2024): every `every` steps, an exponential
    average of all weights (batch-norm statistics too) takes a step towards the
    current weights, and the weights are set to it. Its decay grows as
    `base ** every * progress ** 3`, so it is off early and strongest at the end;
    training ends on the average.

    A resumed run restarts the average from the restored weights.
    """

    def __init__(self, total_steps, every=5, base=0.95):
        super().__init__()
        self.total_steps = max(int(total_steps), 1)
        self.every = every
        self.base = base
        self.average = None

    def on_train_begin(self, logs=None):
        self.average = [tf.Variable(weight, trainable=False) for weight in self.model.weights]
        self._update = tf.function(self._pull)

    def on_train_batch_end(self, batch, logs=None):
        step = int(self.model.optimizer.iterations.numpy())
        if step % self.every == 0:
            progress = min(step / self.total_steps, 1.0)
            self._update(tf.constant(self.base ** self.every * progress ** 3, tf.float32))

    def on_train_end(self, logs=None):
        self._update(tf.constant(1.0, tf.float32))

    def _pull(self, decay):
        for average, weight in zip(self.average, self.model.weights):
            mixed = decay * average + (1.0 - decay) * tf.cast(weight, tf.float32)
            average.assign(tf.cast(mixed, average.dtype))
            weight.assign(tf.cast(average, weight.dtype))


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
            f"weights are unusable; lower the learning rate (train.learning_rate, or the optimize.*learning_rate "
            f"of the fine-tune) or check the data for extreme values, then run the command again")
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
