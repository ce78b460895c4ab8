"""The export stage: SavedModel + four TFLite files, each then run and measured.

`lepton export` writes the files; `lepton evaluate` (also run after export)
runs every file on the test split and records the figures in the model card.
"""

import logging

import numpy as np

from lepton_tf.errors import RunFolderError
from lepton_tf.evaluate import evaluate_saved_model, evaluate_tflite
from lepton_tf.export.saved_model import save_module
from lepton_tf.export import metadata
from lepton_tf.export.tflite import FORMATS, convert
from lepton_tf.fileio import write_bytes, write_text
from lepton_tf.stages import keras_top1, open_run, sample_indices

log = logging.getLogger(__name__)

SAVED_MODEL = "saved_model/1"
# float32/float16/dynamic are post-training conversions of the float model;
# int8 comes from the most optimised model the run has.
INT8_SOURCES = ("qat", "pruned", "float")


def tflite_path(fmt):
    return f"tflite/{fmt}.tflite"


def export(run_dir, overrides=()):
    """Writes `saved_model/1/` and `tflite/{float32,float16,dynamic,int8}.tflite`, then evaluates them.

    Returns:
      The model card.
    """
    run, config, task = open_run(run_dir, overrides, "export")
    float_model = run.load_model("float")
    save_module(task.serving_module(float_model, config), run.file(SAVED_MODEL))
    artifacts = {SAVED_MODEL: {"format": "saved_model", "source": "float"}}
    int8_source = next(stage for stage in INT8_SOURCES if run.model_path(stage).is_file())
    models = {"float": float_model, int8_source: run.load_model(int8_source)}
    for fmt in FORMATS:
        source = int8_source if fmt == "int8" else "float"
        artifacts[tflite_path(fmt)] = {"format": f"tflite/{fmt}", "source": source,
                                       **_export_tflite(run, config, task, models[source], fmt)}
    run.update_card({"artifacts": artifacts})
    return evaluate(run_dir, models=models)


def _export_tflite(run, config, task, model, fmt):
    """Converts, attaches metadata, writes the file and its metadata.json; returns card fields."""
    log.info("converting to %s TFLite", fmt)
    calibration = task.calibration_inputs(sample_indices(task, config, "train")) if fmt == "int8" else None
    content = convert(task.conversion_model(model), fmt, calibration, config.export.int8_io)
    described, reason = task.tflite_metadata(fmt, run.name, SAVED_MODEL.split("/")[-1], config.export.int8_io)
    if described:
        content = metadata.attach(content, *described)
    path = run.file(tflite_path(fmt))
    write_bytes(path, content)
    write_text(path.with_suffix(".metadata.json"), metadata.dump(content))
    fields = {"input": task.tflite_input_description(fmt), "metadata": bool(described)}
    return {**fields, **({"mediapipe": f"not supported: {reason}"} if reason else {})}


def evaluate(run_dir, models=None):
    """Runs every exported file on the test split and records it in the model card.

    Args:
      run_dir: the run folder.
      models: already loaded Keras models by stage (loaded from the folder otherwise).

    Returns:
      The model card.

    Raises:
      RunFolderError: nothing has been exported yet.
    """
    run, config, task = open_run(run_dir, (), "evaluate")
    artifacts = run.read_card().get("artifacts", {})
    if not artifacts:
        raise RunFolderError(f"{run.path} has no exported files yet: run `lepton export {run.path}` first")
    examples, labels = task.examples("test")
    file_inputs = task.tflite_inputs("test")  # the same for every TFLite format
    models = dict(models or {})
    reference = {}
    for relative, entry in artifacts.items():
        source = entry["source"]
        if source not in reference:
            models.setdefault(source, run.load_model(source))
            reference[source] = keras_top1(models[source], examples, config.export.eval_batch_size)
        log.info("evaluating %s on %d test examples", relative, len(labels))
        if entry["format"] == "saved_model":
            entry.update(evaluate_saved_model(run.file(relative), task.serving_inputs("test"), labels,
                                              reference[source], config.export.eval_batch_size))
            continue
        entry.update(evaluate_tflite(run.file(relative), file_inputs, labels, reference[source],
                                     config.export.latency_runs, config.export.eval_batch_size))
        if entry.get("metadata") and "mediapipe" not in entry and config.export.mediapipe_examples > 0:
            entry.update(_mediapipe_agreement(run.file(relative), task, reference[source], config))
    return run.update_card({"status": "done", "artifacts": artifacts})


def _mediapipe_agreement(path, task, reference_top1, config):
    """Top-1 agreement of MediaPipe Tasks (reading only the file's metadata) with the Keras model."""
    count = min(config.export.mediapipe_examples, len(reference_top1))
    names = task.mediapipe_top1(path, count)
    expected = [task.class_names[i] for i in reference_top1[:count]]
    agreement = float(np.mean([got == want for got, want in zip(names, expected)]))
    return {"mediapipe_agreement": round(agreement, 5), "mediapipe_examples": count}
