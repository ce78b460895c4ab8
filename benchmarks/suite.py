"""One benchmark run of one data set: our chain, its profile and the peer recipe, as one flat record."""

import logging
import time

from lepton_tf import config as config_lib

from benchmarks import chain, frontier, peer

log = logging.getLogger(__name__)

# The data sets `make bench` measures: name → recipe (the same files `make train NAME=...` uses).
DATA_SETS = {"cifar10": "configs/cifar10.yaml", "sst2": "configs/sst2.yaml", "trec": "configs/trec.yaml"}
INT8 = "tflite/int8.tflite"
FLOAT32 = "tflite/float32.tflite"


def run_once(name, work_dir, seed, overrides=(), methods=tuple(frontier.METHODS)):
    """Measures one data set once: returns the record `report` aggregates over runs.

    `methods`: the compression-frontier forks to measure (`frontier.METHODS`);
    pqat75 is always among them, as the accuracy table's 75% column.
    """
    config = config_lib.load(DATA_SETS[name], [*overrides, f"data.seed={seed}", "train.verbose=2"])
    run_dir = work_dir / name
    log.info("benchmark %s (seed %d): training the float model", name, seed)
    run = chain.train_float(run_dir, config)
    seconds = run.card.stages["float"].train_seconds
    profile = chain.profile_training(run.task, run.config)
    start = time.perf_counter()
    card = run.quantize().card.to_dict()
    quantize_seconds = time.perf_counter() - start
    methods = ["pqat75", *(method for method in methods if method != "pqat75")]
    points = frontier.measure(run, work_dir, methods, file_figures)
    frontier.plot(name, points, work_dir / f"frontier_{name}.png")
    log.info("benchmark %s: the tutorial recipe, %.0f s of training", name, seconds)
    theirs = _peer(run.task, run.config, seconds, seed)
    return {"ours": _ours(card, points, profile, quantize_seconds), "peer": theirs}


def _ours(card, points, profile, quantize_seconds):
    trained = card["stages"]["float"]
    examples = card["data"]["examples"]["train"]
    step = profile["step"]
    training_flops = profile["training_flops_per_example"] * step["examples_per_second"]
    files = {path: file_figures(entry) for path, entry in card["artifacts"].items()}
    return {
        "float": {"accuracy": trained["accuracy"], "train_seconds": trained["train_seconds"],
                  "epochs": trained["epochs"], "params": profile["params"], "forward_flops": profile["forward_flops"],
                  "fit_examples_per_second": trained["epochs"] * examples / trained["train_seconds"],
                  "step_examples_per_second": step["examples_per_second"], "training_flops_per_second": training_flops},
        "input_pipeline": {"examples_per_second": profile["pipeline_examples_per_second"],
                           "input_wait_fraction": step["input_wait_fraction"],
                           "step_seconds": step["step_seconds"], "compute_step_seconds": step["compute_step_seconds"]},
        "pruned": _pruned(card),
        "qat": {"accuracy": card["stages"]["qat"]["accuracy"], "quantize_seconds": round(quantize_seconds, 1)},
        "files": files,
        "frontier": {"pruned_accuracy": points["pqat75"]["stages"]["pruned"]["accuracy"],
                     "sparsity": points["pqat75"]["stages"]["pruned"]["sparsity"],
                     "qat_accuracy": points["pqat75"]["stages"]["qat"]["accuracy"],
                     "int8": {key: value for key, value in points["pqat75"].items() if key not in ("stages", "weights")}},
        "methods": points,
    }


def _pruned(card):
    """The pruned stage's figures; a recipe without pruning (sparsity 0) has none: its QAT starts from float."""
    pruned = card["stages"].get("pruned")
    return {"accuracy": pruned["accuracy"], "sparsity": pruned["sparsity"]} if pruned else {"sparsity": 0.0}


def file_figures(entry):
    """The figures of one exported file's model-card entry that the results keep."""
    figures = {key: entry[key] for key in ("accuracy", "agreement", "bytes", "gzip_bytes") if key in entry}
    if "latency_ms_p50" in entry:
        figures.update({"latency_ms_p50": entry["latency_ms_p50"], "latency_ms_p90": entry["latency_ms_p90"],
                        "latency_ms_p50_2_threads": entry["latency_ms_2_threads"]["p50"],
                        "latency_ms_p90_2_threads": entry["latency_ms_2_threads"]["p90"]})
    figures.update({key: entry[key] for key in ("mediapipe_agreement", "mediapipe_accuracy") if key in entry})
    return figures


def _peer(task, config, seconds, seed):
    start = time.perf_counter()
    if task.name == "image":
        inputs, labels = peer.image_inputs(task.data)
        model = peer.tutorial_cnn(inputs["train"].shape[1:], len(task.class_names))
        figures = peer.run_peer(model, inputs, labels, seconds, peer.image_augmentation(seed), seed,
                                config.export.latency_runs)
    else:
        inputs, labels, vocabulary_size = peer.text_inputs(task.data)
        model = peer.tutorial_text_model(vocabulary_size, inputs["train"].shape[1], len(task.class_names))
        figures = peer.run_peer(model, inputs, labels, seconds, None, seed, config.export.latency_runs)
    log.info("tutorial recipe done in %.0f s", time.perf_counter() - start)
    return figures
