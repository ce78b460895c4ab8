"""Transfer learning for pretrained backbones: the head on the frozen backbone, then its top blocks.

Phase 1 (`train.head_epochs`) trains only the classifier; phase 2
(`train.epochs`) also trains the top `train.fine_tune_blocks` blocks at the
lower `train.learning_rate`. Batch norm stays frozen (inference mode) in both,
the usual choice for fine-tuning on a few hundred images a class: their batch
statistics would overwrite ImageNet's with noisy ones.

The frozen bottom of the network sees every image identically in every
epoch when augmentation is off (mirroring aside), so its output is computed
once and both phases train the top on it: on CPUs that is the difference
between minutes and an hour. With other augmentation, or with every block
trained, both phases run end-to-end on the augmented `tf.data` pipeline.
"""

import logging
import time

import numpy as np

from lepton_tf import train as train_lib
from lepton_tf.keras import keras, tf
from lepton_tf.schedules import make_schedule, steps_for

log = logging.getLogger(__name__)


def fit_transfer(model, task, config, history_file):
    """Trains a pretrained classifier in its two phases; returns {'phases': …} for the model card.

    Args:
      model: a classifier whose backbone layers are named `block{i}_…` (EfficientNet-Lite).
      task: the image task (data, normalisation, pipelines).
      config: the run's `Config`.
      history_file: the CSV both phases append their epochs to.
    """
    cfg = config.train
    split = split_tensor(model, cfg.fine_tune_blocks)
    if split is not None and only_flip(config.data.augment):
        inputs = cached_inputs(model, split, task, config)
        report = {"frozen_output_cached": True, "cached_seconds": inputs.pop("seconds")}
    else:
        end_to_end = {"train": task.dataset("train", config, True),
                      "val": task.dataset("val", config, False) if len(task.data.val) else None,
                      "examples": len(task.data.train)}
        inputs = {"head": (model, end_to_end), "fine_tune": (model, end_to_end)}
        report = {"frozen_output_cached": False}
    phases = {}
    if cfg.head_epochs > 0:
        set_trainable(model, head_only=True)
        phases["head"] = _run_phase(*inputs["head"], config, (cfg.head_learning_rate, "cosine", 0),
                                    cfg.head_epochs, 0, history_file)
    if cfg.fine_tune_blocks != 0:
        set_trainable(model, head_only=False, from_tensor=split if split is not None else model.input)
        schedule = (cfg.learning_rate, cfg.schedule, cfg.warmup_epochs)
        phases["fine_tune"] = _run_phase(*inputs["fine_tune"], config, schedule, cfg.epochs, cfg.head_epochs,
                                         history_file)
    set_trainable(model, head_only=False, from_tensor=model.input, batch_norm=True)  # later stages train it all
    return {**report, "phases": phases}


def split_tensor(model, fine_tune_blocks):
    """The tensor the trained part starts from: the input of the first of the top `fine_tune_blocks` blocks.

    None when every block trains (-1); the pooled features' input (the last
    feature map) when none does (0).
    """
    if fine_tune_blocks < 0:
        return None
    if fine_tune_blocks == 0:
        return model.get_layer("pool").input
    blocks = block_indices(model)
    if fine_tune_blocks >= len(blocks):
        return None
    first = blocks[-fine_tune_blocks]
    layer = next(layer for layer in model.layers if layer.name.startswith(f"block{first}_"))
    return layer.input


def block_indices(model):
    """Sorted indices of the `block{i}_…` layers of a backbone (wrapped layers by their inner name)."""
    return sorted({index for index in map(_block_of, model.layers) if index is not None})


def _block_of(layer):
    """The block index of a `block{i}_…` layer (or of the layer a TF-MOT wrapper holds); else None."""
    head, _, rest = getattr(layer, "layer", layer).name.partition("_")
    return int(head[5:]) if head.startswith("block") and head[5:].isdigit() and rest else None


def freeze_untrained_part(model, fine_tune_blocks):
    """Freezes the layers the float stage kept frozen (stem and lower blocks) in a QAT or pruning model.

    Their weights stay the pretrained ones; TF-MOT still learns their
    activation ranges, which forward passes update. Backpropagation then
    stops at the trained top, which makes QAT on a CPU several times faster.
    Returns the number of layers frozen.
    """
    if fine_tune_blocks < 0:
        return 0
    blocks = block_indices(model)
    first_trained = blocks[-fine_tune_blocks] if 0 < fine_tune_blocks <= len(blocks) else None
    frozen = 0
    for layer in model.layers:
        name, block = getattr(layer, "layer", layer).name, _block_of(layer)
        below = (block is not None and (first_trained is None or block < first_trained)) or name.startswith("stem_")
        if below or (fine_tune_blocks == 0 and name.startswith("top_")):
            layer.trainable = False
            frozen += 1
    return frozen


def only_flip(augment):
    """True when the augmentation is at most a horizontal flip (which the cache covers with mirrored copies)."""
    return not (augment.crop_padding or augment.brightness or augment.contrast or augment.cutout
                or augment.mixup or augment.cutmix or augment.augmix)


def set_trainable(model, head_only, from_tensor=None, batch_norm=False):
    """Freezes the backbone (head_only) or trains every layer downstream of `from_tensor`.

    Batch norm layers stay frozen unless `batch_norm`: a frozen Keras batch
    norm also runs in inference mode, so its ImageNet statistics are kept.
    """
    downstream = set() if head_only else _layers_after(model, from_tensor)
    for layer in model.layers:
        if isinstance(layer, keras.layers.BatchNormalization):
            layer.trainable = batch_norm
        elif head_only:
            layer.trainable = layer.name in ("logits",)
        else:
            layer.trainable = layer.name in downstream


def _layers_after(model, tensor):
    """Names of the layers that compute from `tensor` on (the model's input: every layer)."""
    if tensor is model.input:
        return {layer.name for layer in model.layers}
    reached, names = {id(tensor)}, set()
    for layer in model.layers:
        inputs = layer.input if isinstance(layer.input, list) else [layer.input]
        if any(id(t) in reached for t in inputs) and not isinstance(layer, keras.layers.InputLayer):
            names.add(layer.name)
            reached.add(id(layer.output))
    return names


def cached_inputs(model, split, task, config):
    """Per phase (model to train, its datasets), computed once from the frozen layers.

    The frozen bottom runs once over the train and val images (and their
    mirror images when flipping): the fine-tune phase trains the top on its
    output. The head phase trains on the pooled features, computed once more
    from that output.
    """
    started = time.perf_counter()
    bottom = keras.Model(model.input, split, name=f"{model.name}_bottom")
    mirrored = (False, True) if config.data.augment.flip else (False,)
    train = (np.concatenate([_bottom_outputs(bottom, task.data.train.images, task, config, flip)
                             for flip in mirrored]),
             np.concatenate([task.data.train.labels] * len(mirrored)))
    val = None
    if len(task.data.val):
        val = (_bottom_outputs(bottom, task.data.val.images, task, config, False), task.data.val.labels)
    pool = model.get_layer("pool").output
    to_pool = keras.Model(split, pool, name=f"{model.name}_to_pool")
    pooled = [None if part is None else (to_pool.predict(part[0], batch_size=config.export.eval_batch_size,
                                                          verbose=0), part[1]) for part in (train, val)]
    seconds = round(time.perf_counter() - started, 1)
    log.info("computed the frozen layers' output for %d training images once (%.0f s)", len(train[1]), seconds)
    classes, batch, seed = len(task.class_names), config.data.batch_size, config.data.seed
    return {"head": (keras.Model(pool, model.output, name=f"{model.name}_head"),
                     _array_datasets(*pooled, classes, batch, seed)),
            "fine_tune": (keras.Model(split, model.output, name=f"{model.name}_top"),
                          _array_datasets(train, val, classes, batch, seed)),
            "seconds": seconds}


def _array_datasets(train, val, classes, batch_size, seed):
    """{'train', 'val', 'examples'} from (inputs, int labels) arrays: train reshuffled each epoch."""
    def batches(part, shuffle):
        dataset = tf.data.Dataset.from_tensor_slices(part)
        if shuffle:
            dataset = dataset.shuffle(len(part[1]), seed=seed, reshuffle_each_iteration=True)
        return dataset.batch(batch_size).map(lambda x, y: (x, tf.one_hot(y, classes))).prefetch(2)

    return {"train": batches(train, True), "val": batches(val, False) if val is not None else None,
            "examples": len(train[1])}


def _bottom_outputs(bottom, images, task, config, flip):
    """Runs the frozen bottom over uint8 images a batch at a time (never all images as float32 at once)."""
    normalization = task.normalization

    def prepare(batch):
        batch = normalization.apply(batch)
        return tf.image.flip_left_right(batch) if flip else batch

    dataset = tf.data.Dataset.from_tensor_slices(images).batch(config.export.eval_batch_size).map(prepare)
    return bottom.predict(dataset, verbose=0)


def _run_phase(model, datasets, config, schedule, epochs, initial_epoch, history_file):
    """One phase: `schedule` is (peak learning rate, schedule name, warm-up epochs)."""
    cfg = config.train
    learning_rate, name, warmup_epochs = schedule
    steps = steps_for(datasets["examples"], config.data.batch_size, drop_remainder=False)
    schedule = make_schedule(name, learning_rate, steps * epochs, steps * warmup_epochs)
    optimizer = train_lib.make_optimizer(cfg.optimizer, schedule, cfg.weight_decay, cfg.momentum)
    train_lib.compile_model(model, optimizer, cfg.label_smoothing)
    callbacks = [keras.callbacks.CSVLogger(str(history_file), append=True)]
    started = time.perf_counter()
    history = train_lib.fit(model, datasets["train"], datasets["val"], initial_epoch + epochs, callbacks,
                            cfg.verbose, initial_epoch=initial_epoch)
    return {"epochs": epochs, "learning_rate": learning_rate, "seconds": round(time.perf_counter() - started, 1),
            "trainable_weights": int(sum(np.prod(w.shape) for w in model.trainable_weights)),
            "val_accuracy": round(history["val_accuracy"][-1], 5) if history.get("val_accuracy") else None}
