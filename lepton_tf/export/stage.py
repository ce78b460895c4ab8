"""The export stage: SavedModel + four TFLite files, each then run and measured.

`lepton export` writes the files; `lepton evaluate` (also run after export)
runs every file on the test split and records the figures in the model card.
"""

import logging

import numpy as np

from lepton_tf.errors import RunFolderError
from lepton_tf.evaluate import evaluate_saved_model, evaluate_tflite
from lepton_tf.export.saved_model import export_saved_model
from lepton_tf.export.tflite import FORMATS, convert
from lepton_tf.fileio import write_bytes
from lepton_tf.keras import tf
from lepton_tf.stages import keras_top1, open_run

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
    run, config, run_data = open_run(run_dir, overrides, "export")
    float_model = run.load_model("float")
    export_saved_model(float_model, run_data.data.class_names, run_data.normalization,
                       config.data.image_size, run.file(SAVED_MODEL))
    artifacts = {SAVED_MODEL: {"format": "saved_model", "source": "float"}}
    int8_source = next(stage for stage in INT8_SOURCES if run.model_path(stage).is_file())
    models = {"float": float_model, int8_source: run.load_model(int8_source)}
    calibration = _calibration_examples(run_data, config)
    for fmt in FORMATS:
        source = int8_source if fmt == "int8" else "float"
        log.info("converting the %s model to %s TFLite", source, fmt)
        write_bytes(run.file(tflite_path(fmt)), convert(models[source], fmt, calibration, config.export.int8_io))
        artifacts[tflite_path(fmt)] = {"format": f"tflite/{fmt}", "source": source}
    run.update_card({"artifacts": artifacts})
    return evaluate(run_dir, models=models)


def evaluate(run_dir, models=None):
    """Runs every exported file on the test split and records it in the model card.

    Args:
      run_dir: the run folder.
      models: already loaded Keras models by stage (loaded from the folder otherwise).

    Returns:
      The model card.
    """
    run, config, run_data = open_run(run_dir, (), "evaluate")
    artifacts = run.read_card().get("artifacts", {})
    if not artifacts:
        raise RunFolderError(f"{run.path} has no exported files yet: run `lepton export {run.path}` first")
    examples, labels = run_data.examples("test")
    models = dict(models or {})
    reference = {}
    for relative, entry in artifacts.items():
        source = entry["source"]
        if source not in reference:
            models.setdefault(source, run.load_model(source))
            reference[source] = keras_top1(models[source], examples, config.export.eval_batch_size)
        log.info("evaluating %s on %d test examples", relative, len(labels))
        entry.update(_measure(run.file(relative), entry, examples, labels, reference[source], run_data, config))
    return run.update_card({"status": "done", "artifacts": artifacts})


def _measure(path, entry, examples, labels, reference_top1, run_data, config):
    if entry["format"] == "saved_model":
        encoded = [tf.io.encode_png(image).numpy() for image in run_data.data.test.images]
        return evaluate_saved_model(path, encoded, labels, reference_top1, config.export.eval_batch_size)
    return evaluate_tflite(path, examples, labels, reference_top1, config.export.latency_runs,
                           config.export.eval_batch_size)


def _calibration_examples(run_data, config):
    """A seeded random sample of normalised training examples for int8 calibration."""
    images = run_data.data.train.images
    rng = np.random.default_rng(config.data.seed)
    count = min(config.export.representative_examples, len(images))
    return run_data.normalization.apply_numpy(images[np.sort(rng.choice(len(images), count, replace=False))])
