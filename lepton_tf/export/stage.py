"""The export stage: SavedModel + four TFLite files, each then run and measured.

`lepton export` writes the files; `lepton evaluate` (also run after export)
runs every file on the test split and records the figures in the model card.
"""

import logging

import numpy as np

from lepton_tf.errors import RunFolderError
from lepton_tf.evaluate import TFLiteClassifier, evaluate_saved_model, evaluate_tflite
from lepton_tf.export.saved_model import save_module
from lepton_tf.export import metadata
from lepton_tf.export.tflite import FORMATS, convert
from lepton_tf.fileio import write_bytes, write_text
from lepton_tf.stages import chain_stages, finish_run, keras_top1, open_stage, require_current, sample_indices

log = logging.getLogger(__name__)

SAVED_MODEL = "saved_model/1"


def tflite_path(fmt):
    return f"tflite/{fmt}.tflite"


def export(run_dir, overrides=(), save_config=True):
    """Writes `saved_model/1/` and `tflite/{float32,float16,dynamic,int8}.tflite`, then evaluates them.

    float32/float16/dynamic are post-training conversions of the float model;
    int8 comes from the most optimised stage the config makes that the run has
    (QAT, else pruned, else float with post-training quantization).

    Returns:
      The model card.

    Raises:
      RunFolderError: that stage was made with other settings (run `lepton quantize`).
    """
    with open_stage(run_dir, overrides, "export", save_config) as (run, config, task):
        int8_source = _int8_source(run, config)
        float_model = run.load_model("float", config)
        save_module(task.serving_module(float_model, config), run.output(SAVED_MODEL))
        artifacts = {SAVED_MODEL: {"format": "saved_model", "source": "float"}}
        models = {"float": float_model, int8_source: run.load_model(int8_source, config)}
        for fmt in FORMATS:
            source = int8_source if fmt == "int8" else "float"
            artifacts[tflite_path(fmt)] = {"format": f"tflite/{fmt}", "source": source,
                                           **_export_tflite(run, config, task, models[source], fmt)}
        card = run.read_card()
        card["artifacts"] = artifacts  # replaces the entries of earlier exports
        run.write_card(card)
        return _evaluate(run, config, task, models)


def _int8_source(run, config):
    """The stage the int8 file is converted from; a stale one is refused, never used."""
    made = run.read_card().get("stages", {})
    for stage in reversed(chain_stages(config)):
        if stage in made and run.model_path(stage).is_file():
            require_current(run, config, stage)
            return stage
    return "float"


def _export_tflite(run, config, task, model, fmt):
    """Converts, attaches metadata, writes the file and its metadata.json; returns card fields."""
    log.info("converting to %s TFLite", fmt)
    calibration = task.calibration_inputs(sample_indices(task, config, "train")) if fmt == "int8" else None
    content = convert(task.conversion_model(model), fmt, calibration, config.export.int8_io)
    described, reason = task.tflite_metadata(fmt, run.name, SAVED_MODEL.split("/")[-1], config.export.int8_io)
    if described:
        content = metadata.attach(content, *described)
    write_bytes(run.output(tflite_path(fmt)), content)
    write_text(run.output(tflite_path(fmt).replace(".tflite", ".metadata.json")), metadata.dump(content))
    fields = {"input": task.tflite_input_description(fmt), "metadata": bool(described)}
    return {**fields, **({"mediapipe": f"not supported: {reason}"} if reason else {})}


def evaluate(run_dir):
    """Runs every exported file on the test split and records it in the model card: `lepton evaluate`.

    Returns:
      The model card.

    Raises:
      RunFolderError: nothing has been exported yet.
    """
    with open_stage(run_dir, (), "evaluate") as (run, config, task):
        return _evaluate(run, config, task, {})


def _evaluate(run, config, task, models):
    """Measures every exported file against the Keras model of its source stage (loaded unless in `models`)."""
    artifacts = run.read_card().get("artifacts", {})
    if not artifacts:
        raise RunFolderError(f"{run.path} has no exported files yet: run `lepton export {run.path}` first")
    examples, labels = task.examples("test")
    file_inputs = task.tflite_inputs("test")  # the same for every TFLite format
    models = dict(models)
    reference = {}
    for relative, entry in artifacts.items():
        source = entry["source"]
        if source not in reference:
            models.setdefault(source, run.load_model(source, config))
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
    return finish_run(run, {"artifacts": artifacts})


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
