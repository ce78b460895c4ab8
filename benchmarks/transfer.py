"""The transfer row of `make bench` (data set `photos`): three recipes on the same photo-sized images.

The images are CIFAR-10 JPEGs enlarged to phone-photo sizes (`photos.py`):
all 10 classes, 250 training and 60 test files a class (3,100 files). On them:

- `ours`: the chain's built-in defaults (`model.name: auto` picks the
  ImageNet EfficientNet-Lite0 at 224 for photo-sized folders), run as a user
  runs it: `lepton train` then `lepton quantize`, the commands `make train
  DATA=… && make quantize` run, timed from start to finish;
- `from_scratch`: the same commands with `model.name=resnet` (the from-scratch
  ResNet at 32x32 with the built-in defaults), what the chain did for photos
  before;
- `model_maker`: MediaPipe Model Maker's own recipe (`model_maker.py`).

Every file is measured on the same 600 test files: accuracy on the decoded
images each recipe feeds its Keras model, and through MediaPipe's
ImageClassifier on the original full-size files (it resizes them itself, as
on a phone); sizes, single-image latency and training time. Nothing is tuned
here: the chain's defaults are the ones every photo folder gets.
"""

import datetime
import logging
import shutil
import subprocess
import sys
import time
from pathlib import Path

from lepton_tf.errors import LeptonError
from lepton_tf import Run

from benchmarks import model_maker, quick, report, suite, targets
from benchmarks.photos import make_photo_folder

log = logging.getLogger(__name__)

NAME = "photos"
CIFAR10 = quick.SHARED_DATA / "cifar10"
FULL_FOLDER = {"classes": None, "train_per_class": 250, "test_per_class": 60}
QUICK_FOLDER = {"classes": ["airplane", "cat", "ship"], "train_per_class": 12, "test_per_class": 6}
QUICK_IMAGE_SIZE = 64  # pixels: the EfficientNet recipes' input in quick mode (224 otherwise)
# Quick mode shrinks what costs time; the built-in defaults set everything else.
QUICK_CHAIN = ["train.epochs=1", "optimize.prune_epochs=1", "optimize.qat_epochs=1", "export.latency_runs=3",
               "export.representative_examples=16", "data.batch_size=16"]
QUICK_OURS = [f"data.image_size={QUICK_IMAGE_SIZE}", "train.head_epochs=1"]
QUICK_SCRATCH = ["model.width=4"]
QUICK_MODEL_MAKER = model_maker.Recipe(image_size=QUICK_IMAGE_SIZE, epochs=1, quantization_steps=16)
RECIPES = {
    "ours": "built-in defaults (model.name auto → ImageNet EfficientNet-Lite0), `make train && make quantize`",
    "from_scratch": "model.name=resnet, built-in defaults (from scratch at 32x32), `make train && make quantize`",
    "model_maker": "MediaPipe Model Maker's EfficientNet-Lite0 recipe and defaults, post-training int8",
}
INT8_FILES = {"ours": suite.INT8, "from_scratch": suite.INT8, "model_maker": "model_int8.tflite"}
FLOAT32_FILES = {"ours": suite.FLOAT32, "from_scratch": suite.FLOAT32, "model_maker": "model.tflite"}


def photo_folder(work_dir, quick_mode, source=CIFAR10):
    """Writes the benchmark's photo folder under `work_dir/data/photos` (anew); returns its path."""
    destination = Path(work_dir) / "data" / NAME
    shutil.rmtree(destination, ignore_errors=True)
    return make_photo_folder(source, destination, **(QUICK_FOLDER if quick_mode else FULL_FOLDER))


def run_chain(run_dir, overrides):
    """`lepton train RUN_DIR --set … --overwrite` then `lepton quantize RUN_DIR`, each in its own process.

    Returns:
      (model card, wall-clock seconds of both commands: what a user waits).

    Raises:
      LeptonError: a command failed (its own output says why).
    """
    sets = [argument for override in overrides for argument in ("--set", override)]
    start = time.perf_counter()
    for command in (["train", str(run_dir), "--overwrite", *sets], ["quantize", str(run_dir)]):
        finished = subprocess.run([sys.executable, "-m", "lepton_tf", *command], check=False)
        if finished.returncode:
            raise LeptonError(f"`lepton {' '.join(command)}` exited with status {finished.returncode}")
    return Run.open(run_dir).card.to_dict(), time.perf_counter() - start


def chain_record(card, wall_seconds):
    """The figures of one chain run: float model, stage times, the wait, and every exported file."""
    stages = card["stages"]
    return {"float": {"accuracy": stages["float"]["accuracy"], "train_seconds": stages["float"]["train_seconds"],
                      "epochs": stages["float"]["epochs"], "params": card["model"]["params"]},
            "quantize_train_seconds": sum(stages[s].get("train_seconds", 0) for s in ("pruned", "qat") if s in stages),
            "wall_seconds": round(wall_seconds, 1),
            "files": {path: suite.file_figures(entry) for path, entry in card["artifacts"].items()}}


def run_once(folder, work_dir, seed, quick_mode, extra_overrides=()):
    """Runs the three recipes once on `folder`; returns the record `report.aggregate` takes."""
    test_files = sum(1 for path in (Path(folder) / "test").rglob("*") if path.is_file())
    shared = [f"data.source={folder}", f"data.seed={seed}", "train.verbose=2",
              f"export.mediapipe_examples={test_files}", *extra_overrides, *(QUICK_CHAIN if quick_mode else [])]
    record = {}
    log.info("transfer benchmark (seed %d): our defaults", seed)
    card, wall = run_chain(Path(work_dir) / f"{NAME}_ours", shared + (QUICK_OURS if quick_mode else []))
    record["ours"] = {"model": card["model"].get("name"), **chain_record(card, wall)}
    log.info("transfer benchmark (seed %d): the from-scratch ResNet", seed)
    card, wall = run_chain(Path(work_dir) / f"{NAME}_resnet",
                           [*shared, "model.name=resnet", *(QUICK_SCRATCH if quick_mode else [])])
    record["from_scratch"] = {"model": card["model"].get("name"), **chain_record(card, wall)}
    log.info("transfer benchmark (seed %d): MediaPipe Model Maker's recipe", seed)
    recipe = QUICK_MODEL_MAKER if quick_mode else model_maker.Recipe()
    theirs = model_maker.run(folder, Path(work_dir) / f"{NAME}_model_maker", recipe, seed,
                             latency_runs=3 if quick_mode else 50)
    record["model_maker"] = {"model": f"{model_maker.VARIANT} (frozen)", **theirs,
                             "files": {name: suite.file_figures(entry) for name, entry in theirs["files"].items()}}
    return record


def bench(work_dir, runs, quick_mode, machine, extra_overrides=(), source=CIFAR10):
    """Builds the photo folder, runs the recipes `runs` times; returns the result `report.write_result` writes."""
    folder = photo_folder(work_dir, quick_mode, source)
    records = [run_once(folder, work_dir, seed, quick_mode, extra_overrides) for seed in range(runs)]
    median, spread = report.aggregate(records)
    counts = QUICK_FOLDER if quick_mode else FULL_FOLDER
    return {"data_set": NAME, "kind": "transfer", "recipe": RECIPES, "overrides": list(extra_overrides),
            "quick": quick_mode, "runs": runs, "date": datetime.date.today().isoformat(), "hardware": machine,
            "data": {"source": "CIFAR-10 JPEGs enlarged to photo sizes (benchmarks/photos.py)",
                     "classes": len(counts["classes"] or ()) or 10, "train_per_class": counts["train_per_class"],
                     "test_per_class": counts["test_per_class"]},
            "median": median, "spread": spread, "targets": check(median), "records": records}


WAIT_TARGET_SECONDS = 15 * 60  # `make train && make quantize` on a few thousand photos, 2 CPU cores


def check(median):
    """Targets of the transfer row: our int8 file against float and the peers', our files through MediaPipe."""
    ours, scratch, maker = median["ours"], median["from_scratch"], median["model_maker"]
    int8, maker_int8 = ours["files"][INT8_FILES["ours"]], maker["files"][INT8_FILES["model_maker"]]
    ratio = lambda v: f"{v:.2f}x"  # noqa: E731
    mediapipe = [entry["mediapipe_agreement"] for entry in ours["files"].values() if "mediapipe_agreement" in entry]
    return [
        targets.at_most("int8 file through MediaPipe (original files) within 1 pt of the float model",
                        ours["float"]["accuracy"] - int8["mediapipe_accuracy"], 0.01, show=targets.points),
        targets.at_least("int8 file through MediaPipe (original files) at least as accurate as Model Maker's",
                         int8["mediapipe_accuracy"] - maker_int8["mediapipe_accuracy"], 0.0, show=targets.points),
        targets.at_least("int8 file more accurate than Model Maker's (decoded test images)",
                         int8["accuracy"] - maker_int8["accuracy"], 1e-9, show=targets.points),
        targets.at_least("int8 file more accurate than the from-scratch ResNet's",
                         int8["accuracy"] - scratch["files"][INT8_FILES["from_scratch"]]["accuracy"], 1e-9,
                         show=targets.points),
        targets.at_least("every file: MediaPipe on the original files agrees with the file run by LiteRT on ≥ 98%",
                         min(mediapipe), 0.98),
        targets.at_most("int8 file no larger than Model Maker's (ratio)", int8["bytes"] / maker_int8["bytes"], 1.0,
                        show=ratio),
        targets.at_most("int8 p50 latency no worse than Model Maker's (ratio)",
                        int8["latency_ms_p50"] / maker_int8["latency_ms_p50"], 1.0, show=ratio),
        targets.at_most("`make train && make quantize` ≤ 15 min", ours["wall_seconds"], WAIT_TARGET_SECONDS,
                        show=lambda v: f"{v:.0f} s"),
        targets.at_most("train + quantize wait no longer than Model Maker's train + export (ratio)",
                        ours["wall_seconds"] / maker["wall_seconds"], 1.0, show=ratio),
    ]
