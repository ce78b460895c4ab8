"""The export stage: SavedModel + four TFLite files, each then run and measured.

`lepton export` writes the files; `lepton evaluate` (also run after export)
runs every file on the test split and records the figures in the model card.
"""

import logging

from lepton_tf.errors import RunFolderError
from lepton_tf.evaluate import evaluate_saved_model, evaluate_tflite
from lepton_tf.export.saved_model import save_module
from lepton_tf.export.tflite import FORMATS, convert
from lepton_tf.fileio import write_bytes
from lepton_tf.stages import keras_top1, open_run, sample_examples

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
    calibration = sample_examples(task, config, "train")
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

    Raises:
      RunFolderError: nothing has been exported yet.
    """
    run, config, task = open_run(run_dir, (), "evaluate")
    artifacts = run.read_card().get("artifacts", {})
    if not artifacts:
        raise RunFolderError(f"{run.path} has no exported files yet: run `lepton export {run.path}` first")
    examples, labels = task.examples("test")
    models = dict(models or {})
    reference = {}
    for relative, entry in artifacts.items():
        source = entry["source"]
        if source not in reference:
            models.setdefault(source, run.load_model(source))
            reference[source] = keras_top1(models[source], examples, config.export.eval_batch_size)
        log.info("evaluating %s on %d test examples", relative, len(labels))
        if entry["format"] == "saved_model":
            measured = evaluate_saved_model(run.file(relative), task.serving_inputs("test"), labels,
                                            reference[source], config.export.eval_batch_size)
        else:
            measured = evaluate_tflite(run.file(relative), examples, labels, reference[source],
                                       config.export.latency_runs, config.export.eval_batch_size)
        entry.update(measured)
    return run.update_card({"status": "done", "artifacts": artifacts})
