"""The export stage: a new SavedModel version + four TFLite files, each then run and measured.

`export` writes the files; `evaluate` (also run after export) runs every file
on the test split and records its figures in the model card. `Run` calls
both; the converters themselves live in `lepton_tf.export`.
"""

import dataclasses
import logging

import numpy as np

from lepton_tf.card import Artifact, saved_model_path, tflite_metadata_path, tflite_path
from lepton_tf.config import optimize_chain
from lepton_tf.errors import RunFolderError
from lepton_tf.evaluate import SavedModelClassifier, TFLiteClassifier, evaluate_saved_model, evaluate_tflite
from lepton_tf.export import metadata, weights
from lepton_tf.export.saved_model import save_module
from lepton_tf.export.tflite import FORMATS, SPARSE_FORMAT, convert
from lepton_tf.fileio import write_bytes, write_text
from lepton_tf.robustness.measure import measure
from lepton_tf.robustness.report import remove_report, write_report
from lepton_tf.stages import keras_top1, require_current, sample_indices

log = logging.getLogger(__name__)


def export(run, config, task, card):
    """Writes `saved_model/N/` (N one above the newest) and `tflite/{float32,float16,dynamic,int8}.tflite`.

    With optimize.method xnnpack_sparse, also `tflite/float32_sparse.tflite`
    from the pruned model (`export.tflite.convert` says how it differs).

    float32/float16/dynamic are post-training conversions of the float model;
    int8 comes from the most optimised stage the config makes that the run has
    (QAT, else pruned, else float with post-training quantization). The card's
    `artifacts` are replaced by the new files (older SavedModel versions stay
    on disk for TF Serving's version policy).

    Returns:
      {stage: Keras model} of the models the files came from (for `evaluate`).

    Raises:
      RunFolderError: that stage was made with other settings (run `lepton quantize`).
    """
    int8_source = _int8_source(run, card, config)
    float_model = run.load_model("float", config)
    version = next_saved_model_version(run)
    save_module(task.serving_module(float_model), run.output(saved_model_path(version)))
    artifacts = {saved_model_path(version): Artifact(format="saved_model", source="float")}
    models = {"float": float_model, int8_source: run.load_model(int8_source, config)}
    for fmt in FORMATS:
        source = int8_source if fmt == "int8" else "float"
        artifacts[tflite_path(fmt)] = _export_tflite(run, config, task, models[source], fmt, source, version)
    if config.optimize.method == "xnnpack_sparse" and int8_source == "pruned":
        artifacts[tflite_path(SPARSE_FORMAT)] = _export_tflite(run, config, task, models["pruned"], SPARSE_FORMAT,
                                                               "pruned", version)
    card.artifacts = artifacts
    run.write_card(card)
    return models


def next_saved_model_version(run):
    """One above the newest SavedModel version in `saved_model/` (1 for the first export)."""
    return max(run.saved_model_versions(), default=0) + 1


def _int8_source(run, card, config):
    """The stage the int8 file is converted from; a stale one is refused, never used."""
    for stage in reversed(optimize_chain(config)):
        if stage in card.stages and run.model_path(stage).is_file():
            require_current(run, card, config, stage)
            return stage
    return "float"


def _export_tflite(run, config, task, model, fmt, source, version):
    """Converts, attaches metadata, writes the file and its metadata.json; returns its Artifact."""
    log.info("converting to %s TFLite", fmt)
    calibration = task.calibration_inputs(sample_indices(task, config, "train")) if fmt == "int8" else None
    content = convert(task.conversion_model(model), fmt, calibration, config.export.int8_io)
    described, reason = task.tflite_metadata(fmt, run.name, str(version), config.export.int8_io)
    if described:
        content = metadata.attach(content, *described)
    write_bytes(run.output(tflite_path(fmt)), content)
    write_text(run.output(tflite_metadata_path(fmt)), metadata.dump(content))
    return Artifact(format=f"tflite/{fmt}", source=source, input=task.tflite_input_description(fmt),
                    metadata=bool(described), mediapipe=f"not supported: {reason}" if reason else None)


def evaluate(run, config, task, card, models=None):
    """Runs every exported file on the test split and records its figures in `card` (written).

    Each file is compared with the Keras model of its source stage (taken from
    `models`, else loaded from the run), and run on the task's perturbed
    copies of the test split (`measure_robustness`).

    Raises:
      RunFolderError: nothing has been exported yet.
    """
    _require_exports(run, card)
    examples, labels = task.examples("test")
    file_inputs = task.tflite_inputs("test")  # the same for every TFLite format
    models = dict(models or {})
    reference = {}
    for relative, entry in card.artifacts.items():
        if entry.source not in reference:
            models.setdefault(entry.source, run.load_model(entry.source, config))
            reference[entry.source] = keras_top1(models[entry.source], examples, config.export.eval_batch_size)
        log.info("evaluating %s on %d test examples", relative, len(labels))
        if entry.format == "saved_model":
            figures = evaluate_saved_model(run.file(relative), task.serving_inputs("test"), labels,
                                           reference[entry.source], config.export.eval_batch_size)
        else:
            figures = evaluate_tflite(run.file(relative), file_inputs, labels, reference[entry.source],
                                      config.export.latency_runs, config.export.eval_batch_size)
            figures["weights"] = weights.describe(run.file(relative).read_bytes())
            if entry.metadata and entry.mediapipe is None and config.export.mediapipe_examples > 0:
                figures.update(_mediapipe_agreement(run.file(relative), task, reference[entry.source], config))
        card.artifacts[relative] = dataclasses.replace(entry, **figures, robustness=None)
    run.write_card(card)
    measure_robustness(run, config, task, card)


def measure_robustness(run, config, task, card):
    """Runs every exported file on the task's perturbed test sets; records and reports what it kept.

    The sets are seeded with `data.seed` and hold `export.robustness_examples`
    test examples (-1: the task's default; 0: no robustness is measured).
    Each file's entry goes into `card` (written), and `robustness.json` and
    `robustness.png` into the run folder.

    Raises:
      RunFolderError: nothing has been exported yet.
    """
    _require_exports(run, card)
    if config.export.robustness_examples == 0:
        log.info("export.robustness_examples is 0: robustness not measured")
        remove_report(run)  # an earlier report would describe files that are no longer there
        return
    sets = task.perturbed_test_sets(config.data.seed, config.export.robustness_examples)
    classifiers = {relative: _classifier(run.file(relative), entry.format) for relative, entry in card.artifacts.items()}
    entries = measure(classifiers, sets, config.export.eval_batch_size, config.data.seed)
    for relative, entry in entries.items():
        card.artifacts[relative] = dataclasses.replace(card.artifacts[relative], robustness=entry)
    run.write_card(card)
    write_report(run, card)


def _require_exports(run, card):
    if not card.artifacts:
        raise RunFolderError(f"{run.path} has no exported files yet: run `lepton export {run.path}` first")


def _classifier(path, fmt):
    """(classifier, takes a server's inputs) for `robustness.measure`."""
    if fmt == "saved_model":
        return SavedModelClassifier(path), True
    return TFLiteClassifier(path), False


def _mediapipe_agreement(path, task, reference_top1, config):
    """What MediaPipe Tasks, reading only the file's metadata, makes of the file on the test inputs.

    Image files get the original full-size files, which MediaPipe decodes
    and resizes itself, as on a phone. `mediapipe_agreement` compares its
    top-1 with the same file run by LiteRT on the project's own decoded
    inputs: what deploying changes (metadata, decoding, resizing), apart
    from the file's quantization, which `agreement` (file vs its Keras model)
    already measures; `mediapipe_keras_agreement` compares it with the Keras model.
    """
    count = min(config.export.mediapipe_examples, len(reference_top1))
    names = task.mediapipe_top1(path, count)
    file_top1 = np.argmax(TFLiteClassifier(path).predict(task.tflite_inputs("test", np.arange(count)),
                                                         config.export.eval_batch_size), axis=-1)
    return {"mediapipe_agreement": _share_equal(names, task.class_names, file_top1),
            "mediapipe_keras_agreement": _share_equal(names, task.class_names, reference_top1[:count]),
            "mediapipe_accuracy": _share_equal(names, task.class_names, task.data.test.labels[:count]),
            "mediapipe_examples": count, "mediapipe_input": task.mediapipe_input_description()}


def _share_equal(names, class_names, indices):
    """The share of `names` equal to the class names at `indices`, rounded for the card."""
    return round(float(np.mean([name == class_names[i] for name, i in zip(names, indices)])), 5)
