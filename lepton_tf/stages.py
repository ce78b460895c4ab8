"""The stages of a run: train → prune → QAT (export is `lepton_tf.export_stage`).

Each stage function takes the open run folder, its config, its task (data +
preprocessing, loaded once by `lepton_tf.run.Run`) and the model card, writes
its outputs into the folder and returns its `StageResult`. Only `Run` calls
them and records the results; image and text runs differ only in their task.
"""

import contextlib
import dataclasses
import datetime
import logging
import time
from pathlib import Path

import numpy as np

from lepton_tf import distribute, environment
from lepton_tf import train as train_lib
from lepton_tf.card import DataDetails, ModelCard, ModelDetails, StageResult, Usage
from lepton_tf.config import Config, flatten, optimize_chain, stage_settings
from lepton_tf.data.digits import BUILTIN_NAME
from lepton_tf.data.sources import resolve_task
from lepton_tf.errors import LeptonError, RunFolderError, TrainingError
from lepton_tf.keras import keras
from lepton_tf.models import is_pretrained, learning_rate_scales, load_pretrained, resolve_name
from lepton_tf.models.whitening import has_whitening, init_whitening
from lepton_tf.optimize import cluster as cluster_lib
from lepton_tf.optimize import prune as prune_lib
from lepton_tf.optimize.fold import fold_batch_norms
from lepton_tf.optimize import qat as qat_lib
from lepton_tf.plots import plot_curves
from lepton_tf.schedules import make_schedule, steps_for
from lepton_tf.transfer import fit_transfer, freeze_untrained_part

log = logging.getLogger(__name__)

# Per stage, the outputs of a stage besides its weights (a discarded stage loses all of them).
STAGE_OUTPUTS = {"float": ("history.csv", "curves.png"), "pruned": ("history_pruned.csv",),
                 "clustered": ("history_clustered.csv",), "qat": ("history_qat.csv",)}
M_BY_N = (2, 4)  # optimize.method 2to4: 2 zeros in every 4 consecutive input-channel weights
# What a pruning method restricts its zeros to (the card's `structure`); other methods prune any weight.
PRUNE_STRUCTURES = {"2to4": "2:4", "xnnpack_sparse": "1x1 convolutions"}
# Pruning ramps sparsity up over the first two thirds of the fine-tune's steps, in this many increments.
PRUNE_INCREMENTS = 20


def train_float(run, config, task, card, strategy, backup_root):
    """Trains the float model and saves its weights; returns (float32 Keras model, StageResult).

    `card` gets the parameter count (and, for pretrained backbones, how the
    two transfer phases went). `backup_root` is where a multi-worker chief's
    resume backup lives (see `lepton_tf.distribute`).
    """
    kept = None
    if is_pretrained(config.model):
        model, seconds, card.model.transfer = _fit_pretrained(run, config, task)
    else:
        model, seconds, kept = _fit_float(run, config, task, strategy, backup_root)
    run.save_model(model, "float")
    history = train_lib.read_history(run.file("history.csv"))
    plot_curves(history, run.output("curves.png"), f"{run.name}: {model.name} on {config.data.source}")
    card.model.params = model.count_params()
    accuracy, confusion = keras_scores(model, task, config)
    epochs = len(history.get("loss", []))
    kept = kept if kept != epochs else None  # None: the run ends with its last epoch's weights
    val = history.get("val_accuracy")
    return model, StageResult(
        accuracy=accuracy, confusion_matrix=confusion, epochs=epochs, kept_epoch=kept,
        val_accuracy=round(val[kept - 1] if kept else val[-1], 5) if val else None,
        train_seconds=round(seconds, 1),
        settings=stage_settings(config, "float"), **distribute.describe(strategy, config.train.strategy),
        mixed_precision=config.train.mixed_precision, jit_compile=config.train.jit_compile)


def prepare_for_training(run, config, overwrite, keep=()):
    """Makes `run` ready for a float training run, or refuses (then nothing has changed).

    An empty or new folder is used as it is (`refuse_foreign_folder` has turned
    away someone else's); an interrupted run resumes when its settings match; a run with
    finished stages is replaced only with `overwrite`, and then only the files
    the project wrote are removed (but `keep`: in-memory data just written there).

    Raises:
      RunFolderError: as `refuse_finished_run` says, or an interrupted run has other settings.
    """
    if not run.is_run_folder() or overwrite:
        run.remove_outputs(keep)
        return
    if has_backup(run, "float"):
        _require_same_settings_to_resume(run, config)
        return
    refuse_finished_run(run)
    run.remove_outputs(keep)  # an earlier attempt that finished nothing: start it afresh


def refuse_finished_run(run):
    """Raises RunFolderError when `run` holds finished stages (replacing them takes `overwrite`)."""
    card = run.read_card() if run.is_run_folder() else None
    if card is not None and card.stages:
        raise RunFolderError(
            f"{run.path} already holds a trained run (status: {card.status}; stages: {', '.join(card.stages)}; "
            f"exported files: {len(card.artifacts)}); add --overwrite (make train OVERWRITE=1; "
            f"Run.create(..., overwrite=True)) to replace it, or choose a new NAME (nothing was changed)")


def refuse_foreign_folder(run):
    """Raises RunFolderError when `run` is a non-empty folder the project did not make."""
    foreign = run.foreign_entries()
    if foreign:
        shown = ", ".join(foreign[:5]) + (", …" if len(foreign) > 5 else "")
        raise RunFolderError(f"{run.path} is not empty and is not a lepton run folder (it holds {shown}); "
                             f"choose a new NAME or an empty folder (nothing was changed)")


def _require_same_settings_to_resume(run, config):
    try:
        before = stage_settings(run.read_config(), "float")
    except LeptonError:  # no readable config.yaml: nothing says what the backup was made with
        before = {}
    changed = settings_changes(before, stage_settings(config, "float"))
    if changed:
        raise RunFolderError(
            f"{run.path} holds an interrupted training made with other settings ({changed}); run the same "
            f"command as before to resume it, or add --overwrite (make train OVERWRITE=1) to start over "
            f"(nothing was changed)")


# Training images the whitening convolution is computed from (airbench uses 5,000).
WHITENING_EXAMPLES = 5000


def _fit_float(run, config, task, strategy, backup_root):
    cfg = config.train
    if cfg.mixed_precision != "off":
        keras.mixed_precision.set_global_policy(f"mixed_{cfg.mixed_precision}")
    keras.utils.set_random_seed(config.data.seed)  # weight initialisation and dropout follow the run's seed
    steps = steps_for(len(task.data.train), config.data.batch_size)
    schedule = make_schedule(cfg.schedule, cfg.learning_rate, steps * cfg.epochs, steps * cfg.warmup_epochs)
    with strategy.scope():
        model = task.build_model(config)
        _init_from_data(model, task, config.data.seed)
        scales = {**learning_rate_scales(config.model, task.name),
                  **train_lib.norm_offset_scales(model, cfg.norm_learning_rate_scale)}
        optimizer = train_lib.make_optimizer(cfg.optimizer, schedule, cfg.weight_decay, cfg.momentum, scales)
        train_lib.compile_model(model, optimizer, cfg.label_smoothing, cfg.jit_compile)
    callbacks = train_lib.training_callbacks(run.path, "float", record_fit_outputs(run, "float"),
                                             cfg.early_stop_patience, cfg.backup_steps, backup_root)
    if cfg.lookahead:
        callbacks.append(train_lib.Lookahead(steps * cfg.epochs))
    log.info("training %s (%d parameters) on %d examples, %d classes, %s replica(s), strategy %s", model.name,
             model.count_params(), len(task.data.train), len(task.class_names), strategy.num_replicas_in_sync,
             cfg.strategy)
    start = time.perf_counter()
    _fit(run, "float", model, task.dataset("train", config, True), _val_dataset(task, config), cfg.epochs,
         callbacks, cfg.verbose)
    seconds = time.perf_counter() - start
    keras.mixed_precision.set_global_policy("float32")
    return _local_float32_copy(model, task, config), seconds, _restored_epoch(callbacks)


def _restored_epoch(callbacks):
    """The 1-based epoch whose weights early stopping restored (lowest validation loss), or None.

    Read from the callback, not the history: a resumed run's callback has seen
    only the epochs since it resumed, and restores the best of those.
    """
    for callback in callbacks:
        if isinstance(callback, keras.callbacks.EarlyStopping) and callback.best_weights is not None:
            return callback.best_epoch + 1
    return None


def _init_from_data(model, task, seed):
    """Data-dependent initialisation (a resumed run then restores its backup over it).

    The whitening images are a seeded random sample: folders list a class at a time.
    """
    if has_whitening(model):
        size = len(task.data.train)
        sample = np.sort(np.random.default_rng(seed).choice(size, min(WHITENING_EXAMPLES, size), replace=False))
        images, _ = task.examples("train", sample)
        init_whitening(model, images)


def _fit_pretrained(run, config, task):
    """Builds the classifier on pretrained backbone weights and trains it in its two phases."""
    keras.utils.set_random_seed(config.data.seed)
    model = task.build_model(config)
    weights = load_pretrained(model, config.model)
    log.info("training %s from %s weights (%s) on %d examples, %d classes", model.name, config.model.pretrained,
             weights, len(task.data.train), len(task.class_names))
    history_file = record_fit_outputs(run, "float")
    if history_file.exists():
        history_file.unlink()
    start = time.perf_counter()
    transfer = fit_transfer(model, task, config, history_file)
    return model, time.perf_counter() - start, {"pretrained": config.model.pretrained, "weights": str(weights),
                                                **transfer}


def _local_float32_copy(model, task, config):
    """The trained weights in a float32 model outside any strategy: what is saved, evaluated and exported.

    Mixed-precision models compute in float16 and distributed ones hold
    mirrored variables; neither should reach the converter.
    """
    copy = task.build_model(config)
    copy.set_weights(model.get_weights())
    return copy


def prune(run, config, task, card):
    """Prunes the float model (to `optimize.sparsity`, or 2:4), fine-tunes it and saves it; returns its StageResult.

    xnnpack_sparse prunes only 1x1 convolutions, so the overall sparsity is
    below the target; each pruned layer reaches it (`layer_sparsity`).

    Raises:
      TrainingError: a 2:4 kernel lost its pattern in training (it cannot, unless TF-MOT changes).
    """
    cfg = config.optimize
    structured = cfg.method == "2to4"
    target = M_BY_N[0] / M_BY_N[1] if structured else cfg.sparsity
    steps = steps_for(len(task.data.train), config.data.batch_size) * cfg.prune_epochs
    ramp_steps = steps * 2 // 3
    frequency = max(ramp_steps // PRUNE_INCREMENTS, 1)  # steps between sparsity increments
    end_step = max(ramp_steps // frequency, 1) * frequency  # full sparsity a third before the end
    strategy_name, strategy = _fine_tune_strategy(config)
    with strategy.scope():
        model = prune_lib.prune_model(run.load_model("float", config), target, end_step,
                                      m_by_n=M_BY_N if structured else None,
                                      for_xnnpack=cfg.method == "xnnpack_sparse")
    discard_mismatched_backup(run, card, "pruned", config)
    seconds = _fine_tune(run, config, task, model, strategy, "pruned", cfg.prune_epochs, cfg.learning_rate,
                         prune_lib.pruning_callbacks())
    stripped = prune_lib.strip(model)
    broken = prune_lib.m_by_n_violations(stripped, M_BY_N) if structured else []
    if broken:
        raise TrainingError(f"2:4 sparsity did not hold in {', '.join(broken)} after pruning")
    run.save_model(stripped, "pruned")
    overall, per_layer = prune_lib.measure_sparsity(stripped)
    log.info("pruned to %.1f%% zeros in prunable weights (target %.0f%%)", 100 * overall, 100 * target)
    accuracy, confusion = keras_scores(stripped, task, config)
    return StageResult(
        accuracy=accuracy, confusion_matrix=confusion, sparsity=round(overall, 4), target_sparsity=target,
        layer_sparsity=per_layer, structure=PRUNE_STRUCTURES.get(cfg.method), epochs=cfg.prune_epochs,
        train_seconds=round(seconds, 1), settings=stage_settings(config, "pruned"),
        **distribute.describe(strategy, strategy_name))


def cluster(run, config, task, card):
    """Clusters the float (pcqat: pruned) model's kernels, fine-tunes it and saves it; returns its StageResult.

    Batch norms are folded first (`optimize.cluster` says why), so the saved
    model is the folded architecture.
    """
    cfg = config.optimize
    source = "pruned" if "pruned" in optimize_chain(config) else "float"
    require_current(run, card, config, source)
    folded, _ = fold_batch_norms(run.load_model(source, config))
    strategy_name, strategy = _fine_tune_strategy(config)
    with strategy.scope():
        model = cluster_lib.cluster_model(folded, cfg.clusters, preserve_sparsity=source == "pruned")
    discard_mismatched_backup(run, card, "clustered", config)
    seconds = _fine_tune(run, config, task, model, strategy, "clustered", cfg.cluster_epochs,
                         cfg.cluster_learning_rate)
    stripped = cluster_lib.strip(model)
    run.save_model(stripped, "clustered")
    counts = cluster_lib.cluster_counts(stripped, cluster_lib.clustered_layer_names(model))
    overall, _ = prune_lib.measure_sparsity(stripped)
    log.info("clustered to at most %d values per kernel (Conv2D: per channel; %d allowed)",
             max(counts.values(), default=0), cfg.clusters)
    accuracy, confusion = keras_scores(stripped, task, config)
    return StageResult(
        accuracy=accuracy, confusion_matrix=confusion, source=source, clusters=cfg.clusters, layer_clusters=counts,
        sparsity=round(overall, 4), epochs=cfg.cluster_epochs, train_seconds=round(seconds, 1),
        settings=stage_settings(config, "clustered"), **distribute.describe(strategy, strategy_name))


def quantization_aware_train(run, config, task, card):
    """QAT from the chain's stage before it, with the scheme that keeps what that stage made.

    pruned: zeros kept (PQAT); clustered: clusters kept (CQAT), and zeros
    too when it was pruned first (PCQAT); float: the default 8-bit scheme.
    """
    chain = optimize_chain(config)
    source = chain[chain.index("qat") - 1] if "qat" in chain else chain[-1]
    require_current(run, card, config, source)
    source_model, folded = fold_batch_norms(run.load_model(source, config))
    preserve = {"preserve_sparsity": "pruned" in chain, "preserve_clusters": source == "clustered"}
    strategy_name, strategy = _fine_tune_strategy(config)
    with strategy.scope():
        model = qat_lib.quantize_for_training(source_model, **preserve)
    if is_pretrained(config.model):
        freeze_untrained_part(model, config.train.fine_tune_blocks)
    discard_mismatched_backup(run, card, "qat", config)
    if not has_backup(run, "qat"):  # a resumed QAT restores its trained ranges instead
        qat_lib.calibrate_ranges(model, source_model, task.examples("train", sample_indices(task, config, "train"))[0],
                                 config.data.batch_size)
    cfg = config.optimize
    peak = cfg.cqat_learning_rate if preserve["preserve_clusters"] else cfg.qat_learning_rate
    seconds = _fine_tune(run, config, task, model, strategy, "qat", cfg.qat_epochs, peak)
    run.save_model(model, "qat")
    overall, _ = prune_lib.measure_sparsity(model)
    accuracy, confusion = keras_scores(model, task, config)
    return StageResult(
        accuracy=accuracy, confusion_matrix=confusion, source=source,
        scheme=qat_lib.scheme_name(**preserve), sparsity=round(overall, 4),
        clusters=config.optimize.clusters if source == "clustered" else None, folded_batch_norms=folded,
        quantized_layers=qat_lib.quantized_layer_names(model),
        float_layers=qat_lib.unquantized_layer_names(model), frozen_layers=qat_lib.frozen_layer_names(model),
        epochs=config.optimize.qat_epochs, train_seconds=round(seconds, 1), settings=stage_settings(config, "qat"),
        **distribute.describe(strategy, strategy_name))


def require_current(run, card, config, stage):
    """Raises RunFolderError unless `stage`'s model exists and was made with `config`'s settings.

    A model made with other settings (say, pruned to 50% when the config now
    says 0%) would make every later file and figure describe the wrong model.
    """
    entry = card.stages.get(stage)
    if entry is None or not run.model_path(stage).is_file():
        raise RunFolderError(f"{run.path} has no {stage} model for these settings yet: "
                             f"run `lepton quantize {run.path}`")
    if not entry.settings:
        return  # made before settings were recorded: nothing to compare with
    changed = settings_changes(entry.settings, stage_settings(config, stage))
    if changed:
        hint = (f"train a new run, or retrain this one with `lepton train {run.path} --overwrite`" if stage == "float"
                else f"run `lepton quantize {run.path}` (with the same settings) to rebuild it")
        raise RunFolderError(f"the {stage} model in {run.path} was made with other settings ({changed}); {hint}")


def settings_changes(before, now):
    """'key: old → new; …' for the settings that differ ('' when none do).

    A setting `before` lacks (a run made before the setting existed) counts
    only when `now` moves it off its built-in default.
    """
    defaults = flatten(Config())
    keys = [key for key in sorted({*before, *now})
            if before.get(key, defaults.get(key)) != now.get(key)]
    return "; ".join(f"{key}: {before.get(key)!r} → {now.get(key)!r}" for key in keys[:5])


def discard_stage(run, card, stage):
    """Removes a stage's model, history and card entry (a later config no longer makes it)."""
    for relative in (f"keras/{stage}.weights.h5", f"keras/{stage}.h5", *STAGE_OUTPUTS[stage],
                     f"checkpoints/{stage}.weights.h5", f"backup/{stage}", f"logs/{stage}"):
        run.remove_output(relative)
    if card.stages.pop(stage, None) is not None:
        run.write_card(card)
        log.info("removed the %s model of %s: these settings do not make it", stage, run.path)


def discard_mismatched_backup(run, card, stage, config):
    """Drops an interrupted fine-tune's backup when it was made with other settings (it would resume them)."""
    started = card.started.get(stage)
    now = stage_settings(config, stage)
    if has_backup(run, stage) and started != now:
        log.info("discarding the interrupted %s fine-tune in %s: it had other settings (%s)", stage, run.path,
                 settings_changes(started or {}, now))
        run.remove_output(f"backup/{stage}")
    card.started[stage] = now
    run.write_card(card)


def _fine_tune_strategy(config):
    name = distribute.fine_tune_strategy_name(config.train.strategy)
    return name, distribute.make_strategy(name)


def _fine_tune(run, config, task, model, strategy, stage, epochs, peak_learning_rate, extra_callbacks=()):
    keras.utils.set_random_seed(config.data.seed)
    steps = steps_for(len(task.data.train), config.data.batch_size)
    schedule = make_schedule("cosine", peak_learning_rate, steps * epochs, 0)
    with strategy.scope():
        optimizer = train_lib.make_optimizer(config.train.optimizer, schedule, config.train.weight_decay,
                                             config.train.momentum)
        train_lib.compile_model(model, optimizer, config.train.label_smoothing)
    history_file = record_fit_outputs(run, stage)
    if not has_backup(run, stage) and history_file.exists():
        history_file.unlink()  # a fresh (not resumed) fine-tune starts its history anew
    callbacks = train_lib.training_callbacks(run.path, stage, history_file,
                                             backup_steps=config.train.backup_steps) + list(extra_callbacks)
    start = time.perf_counter()
    _fit(run, stage, model, task.dataset("train", config, True), _val_dataset(task, config), epochs, callbacks,
         config.train.verbose)
    return time.perf_counter() - start


def _fit(run, stage, *fit_args):
    """`train_lib.fit`; a diverged fit's backup is dropped, so the next command starts afresh, not from NaNs."""
    try:
        return train_lib.fit(*fit_args)
    except TrainingError:
        run.remove_output(f"backup/{stage}")
        raise


def record_fit_outputs(run, stage):
    """Records what `fit` writes for `stage` (backup, checkpoint, logs, history); returns the history file."""
    for relative in (f"backup/{stage}", f"checkpoints/{stage}.weights.h5", f"logs/{stage}"):
        run.output(relative)
    return run.output(STAGE_OUTPUTS[stage][0])


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


def keras_scores(model, task, config):
    """Test-split top-1 accuracy of a Keras model, and its confusion matrix."""
    from lepton_tf.report import confusion_matrix

    examples, labels = task.examples("test")
    predicted = keras_top1(model, examples, config.export.eval_batch_size)
    accuracy = round(float(np.mean(predicted == labels)), 5)
    return accuracy, confusion_matrix(labels, predicted, len(task.class_names))


@contextlib.contextmanager
def recorded_failure(run, card):
    """Records `status: failed` and the error in the card when the block raises, then re-raises."""
    try:
        yield
    except BaseException as error:
        card.fail(error)
        try:
            run.write_card(card)
        except OSError:  # a full or read-only disk cannot take the status either
            log.warning("could not record status 'failed' in %s", run.file("model_card.json"))
        raise


def record_data_outputs(run, config):
    """Records what loading the data may write into the run folder (decoded-image cache, built-in digits)."""
    if config.data.cache != "memory":  # auto may choose the disk
        run.output("cache")
    if config.data.source == BUILTIN_NAME:
        run.output(f"data/{BUILTIN_NAME}")


def _val_dataset(task, config):
    return task.dataset("val", config, False) if len(task.data.val) else None


def with_absolute_source(config):
    """Records a folder source as an absolute path so later stages find it from anywhere."""
    source = Path(config.data.source)
    if not config.data.source.startswith("tfds:") and source.is_dir():
        config = dataclasses.replace(config, data=dataclasses.replace(config.data, source=str(source.resolve())))
    return config


def base_card(run, config, task, choice, command):
    """The card of a run about to train: what the data, the preprocessing and the model are."""
    data = task.data
    return ModelCard(
        name=run.name, task=task.name, status="running", stage="float", labels=list(task.class_names),
        input=task.preprocessing.describe(),
        output={"name": "probabilities", "shape": [len(task.class_names)], "dtype": "float32"},
        model=ModelDetails(name=resolve_name(config.model, resolve_task(config.data)), choice=choice),
        data=DataDetails(source=config.data.source, examples={s: len(getattr(data, s)) for s in ("train", "val", "test")},
                         skipped=len(data.skipped), **task.card_data()),
        usage=Usage(**dataclasses.asdict(config.card)), command=command,
        created=datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        environment=environment.describe())
