"""The stages a run goes through: train → prune → QAT (export lives in `export/stage.py`).

Each stage reads the run folder earlier stages wrote, adds its outputs and
records its figures in `model_card.json`. Image and text runs differ only in
their task object (`lepton_tf.tasks`).
"""

import dataclasses
import logging
import shutil
import time
from pathlib import Path

import numpy as np

from lepton_tf import distribute, environment
from lepton_tf import train as train_lib
from lepton_tf.data.sources import load_data, resolve_task
from lepton_tf.errors import RunFolderError
from lepton_tf.fileio import remove_stale_temporaries
from lepton_tf.keras import keras
from lepton_tf.models import resolve_name
from lepton_tf.optimize import prune as prune_lib
from lepton_tf.optimize.fold import fold_batch_norms
from lepton_tf.optimize import qat as qat_lib
from lepton_tf.plots import plot_curves
from lepton_tf.run_folder import RunFolder
from lepton_tf.schedules import make_schedule, steps_for
from lepton_tf.tasks import new_task, reopen_task

log = logging.getLogger(__name__)

# Outputs derived from a float model; a fresh training run removes stale ones.
DERIVED_OUTPUTS = ("keras", "tflite", "saved_model", "checkpoints", "logs", "history.csv", "history_pruned.csv",
                   "history_qat.csv", "curves.png", "vocab.txt", "model_card.json", "cache")


def train(run_dir, config):
    """Trains the float model: `lepton train` / `make train`.

    Under `train.strategy=multi_worker` every worker runs this; only the
    chief writes `run_dir` (see `lepton_tf.distribute`).

    Returns:
      The model card.
    """
    # First: MultiWorkerMirroredStrategy must exist before any other TensorFlow op.
    strategy = distribute.make_strategy(config.train.strategy)
    chief = distribute.is_chief(config.train.strategy)
    run = RunFolder(run_dir if chief else distribute.scratch_dir())
    run.require_writable()
    remove_stale_temporaries(run.path)
    config = _with_absolute_source(config)
    if not has_backup(RunFolder(run_dir), "float"):
        _clear_derived_outputs(run)
    task = new_task(load_data(config.data, run.path), config)
    run.write_config(config)
    run.write_labels(task.class_names)
    task.save_assets(run)
    run.write_card(_base_card(run, config, task))
    model, seconds = _fit_float(run, config, task, strategy, Path(run_dir))
    run.save_model(model, "float")
    history = train_lib.read_history(run.file("history.csv"))
    plot_curves(history, run.file("curves.png"), f"{run.name}: {model.name} on {config.data.source}")
    card = run.update_card({"status": "done", "model": {"params": model.count_params()}, "stages": {"float": {
        "accuracy": keras_accuracy(model, task, config), "epochs": len(history.get("loss", [])),
        "val_accuracy": _last(history.get("val_accuracy")), "train_seconds": round(seconds, 1),
        **distribute.describe(strategy, config.train.strategy),
        "mixed_precision": config.train.mixed_precision, "jit_compile": config.train.jit_compile}}})
    if not chief:
        log.info("worker done; only the chief writes %s (this worker's outputs: %s)", run_dir, run.path)
        distribute.discard_scratch(run.path)
    return card


def _fit_float(run, config, task, strategy, backup_root):
    cfg = config.train
    if cfg.mixed_precision:
        keras.mixed_precision.set_global_policy("mixed_float16")
    keras.utils.set_random_seed(config.data.seed)  # weight initialisation and dropout follow the run's seed
    steps = steps_for(len(task.data.train), config.data.batch_size)
    schedule = make_schedule(cfg.schedule, cfg.learning_rate, steps * cfg.epochs, steps * cfg.warmup_epochs)
    with strategy.scope():
        model = task.build_model(config)
        optimizer = train_lib.make_optimizer(cfg.optimizer, schedule, cfg.weight_decay, cfg.momentum)
        train_lib.compile_model(model, optimizer, cfg.label_smoothing, cfg.jit_compile)
    callbacks = train_lib.training_callbacks(run.path, "float", run.file("history.csv"), cfg.early_stop_patience,
                                             cfg.backup_steps, backup_root)
    log.info("training %s (%d parameters) on %d examples, %d classes, %s replica(s), strategy %s", model.name,
             model.count_params(), len(task.data.train), len(task.class_names), strategy.num_replicas_in_sync,
             cfg.strategy)
    start = time.perf_counter()
    train_lib.fit(model, task.dataset("train", config, True), _val_dataset(task, config), cfg.epochs, callbacks,
                  cfg.verbose)
    seconds = time.perf_counter() - start
    keras.mixed_precision.set_global_policy("float32")
    return _local_float32_copy(model, task, config), seconds


def _local_float32_copy(model, task, config):
    """The trained weights in a float32 model outside any strategy: what is saved, evaluated and exported.

    Mixed-precision models compute in float16 and distributed ones hold
    mirrored variables; neither should reach the converter.
    """
    copy = task.build_model(config)
    copy.set_weights(model.get_weights())
    return copy


def prune(run_dir, overrides=()):
    """Prunes the float model to `optimize.sparsity` and fine-tunes it: `lepton prune`."""
    run, config, task = open_run(run_dir, overrides, "pruned")
    cfg = config.optimize
    steps = steps_for(len(task.data.train), config.data.batch_size) * cfg.prune_epochs
    frequency = max(steps * 2 // 3 // 20, 1)
    end_step = max(steps * 2 // 3 // frequency, 1) * frequency  # full sparsity a third before the end
    strategy_name, strategy = _fine_tune_strategy(config)
    with strategy.scope():
        model = prune_lib.prune_model(run.load_model("float"), cfg.sparsity, end_step)
    seconds = _fine_tune(run, config, task, model, strategy, "pruned", cfg.prune_epochs,
                         prune_lib.pruning_callbacks())
    stripped = prune_lib.strip(model)
    run.save_model(stripped, "pruned")
    overall, per_layer = prune_lib.measure_sparsity(stripped)
    log.info("pruned to %.1f%% zeros in prunable weights (target %.0f%%)", 100 * overall, 100 * cfg.sparsity)
    return run.update_card({"status": "done", "stages": {"pruned": {
        "accuracy": keras_accuracy(stripped, task, config), "sparsity": round(overall, 4),
        "target_sparsity": cfg.sparsity, "layer_sparsity": per_layer, "epochs": cfg.prune_epochs,
        "train_seconds": round(seconds, 1), **distribute.describe(strategy, strategy_name)}}})


def quantization_aware_train(run_dir, overrides=()):
    """QAT from the pruned model (sparsity-preserving) or the float one: part of `lepton quantize`."""
    run, config, task = open_run(run_dir, overrides, "qat")
    source = "pruned" if run.model_path("pruned").is_file() else "float"
    source_model, folded = fold_batch_norms(run.load_model(source))
    strategy_name, strategy = _fine_tune_strategy(config)
    with strategy.scope():
        model = qat_lib.quantize_for_training(source_model, preserve_sparsity=source == "pruned")
    if not has_backup(run, "qat"):  # a resumed QAT restores its trained ranges instead
        qat_lib.calibrate_ranges(model, source_model, task.examples("train", sample_indices(task, config, "train"))[0],
                                 config.data.batch_size)
    seconds = _fine_tune(run, config, task, model, strategy, "qat", config.optimize.qat_epochs, [])
    run.save_model(model, "qat")
    overall, _ = prune_lib.measure_sparsity(model)
    quantized = qat_lib.quantized_layer_names(model)
    return run.update_card({"status": "done", "stages": {"qat": {
        "accuracy": keras_accuracy(model, task, config), "source": source,
        "scheme": "Default8BitPrunePreserveQuantizeScheme" if source == "pruned" else "Default8BitQuantizeScheme",
        "sparsity": round(overall, 4), "folded_batch_norms": folded, "quantized_layers": quantized,
        "float_layers": qat_lib.unquantized_layer_names(model), "frozen_layers": qat_lib.frozen_layer_names(model),
        "epochs": config.optimize.qat_epochs, "train_seconds": round(seconds, 1),
        **distribute.describe(strategy, strategy_name)}}})


def _fine_tune_strategy(config):
    name = distribute.fine_tune_strategy_name(config.train.strategy)
    return name, distribute.make_strategy(name)


def _fine_tune(run, config, task, model, strategy, stage, epochs, extra_callbacks):
    keras.utils.set_random_seed(config.data.seed)
    steps = steps_for(len(task.data.train), config.data.batch_size)
    schedule = make_schedule("cosine", config.optimize.learning_rate, steps * epochs, 0)
    with strategy.scope():
        optimizer = train_lib.make_optimizer(config.train.optimizer, schedule, config.train.weight_decay,
                                             config.train.momentum)
        train_lib.compile_model(model, optimizer, config.train.label_smoothing)
    history_file = run.file(f"history_{stage}.csv")
    if not has_backup(run, stage) and history_file.exists():
        history_file.unlink()  # a fresh (not resumed) fine-tune starts its history anew
    callbacks = train_lib.training_callbacks(run.path, stage, history_file,
                                             backup_steps=config.train.backup_steps) + list(extra_callbacks)
    start = time.perf_counter()
    train_lib.fit(model, task.dataset("train", config, True), _val_dataset(task, config), epochs, callbacks,
                  config.train.verbose)
    return time.perf_counter() - start


def has_backup(run, stage):
    """True when an interrupted `fit` of `stage` left a BackupAndRestore checkpoint to resume from."""
    backup = run.path / "backup" / stage
    return backup.is_dir() and any(backup.iterdir())


def sample_indices(task, config, split):
    """A seeded random sample of a split (`export.representative_examples` of it), sorted."""
    size = len(getattr(task.data, split))
    count = min(config.export.representative_examples, size)
    return np.sort(np.random.default_rng(config.data.seed).choice(size, count, replace=False))


def keras_top1(model, examples, batch_size=256):
    """Top-1 classes of a Keras model on numpy model inputs."""
    return np.argmax(model.predict(examples, batch_size=batch_size, verbose=0), axis=-1)


def keras_accuracy(model, task, config):
    """Test-split top-1 accuracy of a Keras model."""
    examples, labels = task.examples("test")
    return round(float(np.mean(keras_top1(model, examples, config.export.eval_batch_size) == labels)), 5)


def open_run(run_dir, overrides, stage):
    """Opens a trained run: its config (with overrides, saved back), data and preprocessing.

    Raises:
      RunFolderError: no finished float model, or the data's classes changed since training.
    """
    run = RunFolder(run_dir)
    run.require()
    if remove_stale_temporaries(run.path):
        log.info("removed files an interrupted run left half-written in %s", run.path)
    run.update_card({"status": "running", "stage": stage})
    config = run.read_config(overrides)
    if overrides:
        run.write_config(config)
    data = load_data(config.data, run.path)
    if data.class_names != run.read_labels():
        raise RunFolderError(
            f"the classes in {config.data.source} no longer match {run.file('labels.txt')}: "
            f"{data.class_names} vs {run.read_labels()}")
    return run, config, reopen_task(data, run, config)


def _val_dataset(task, config):
    return task.dataset("val", config, False) if len(task.data.val) else None


def _with_absolute_source(config):
    """Records a folder source as an absolute path so later stages find it from anywhere."""
    source = Path(config.data.source)
    if not config.data.source.startswith("tfds:") and source.is_dir():
        config = dataclasses.replace(config, data=dataclasses.replace(config.data, source=str(source.resolve())))
    return config


def _clear_derived_outputs(run):
    for name in DERIVED_OUTPUTS:
        path = run.file(name)
        if path.is_dir():
            shutil.rmtree(path)
        elif path.exists():
            path.unlink()


def _base_card(run, config, task):
    data = task.data
    return {
        "name": run.name, "task": task.name, "status": "running", "stage": "float",
        "labels": task.class_names, "input": task.card_input(),
        "output": {"name": "probabilities", "shape": [len(task.class_names)], "dtype": "float32"},
        "model": {"name": resolve_name(config.model, resolve_task(config.data))},
        "data": {"source": config.data.source, "examples": {s: len(getattr(data, s)) for s in ("train", "val", "test")},
                 "skipped": len(data.skipped), **task.card_data()},
        "stages": {}, "artifacts": {}, "environment": environment.describe(),
    }


def _last(values):
    return round(values[-1], 5) if values else None
