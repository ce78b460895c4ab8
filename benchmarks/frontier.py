"""The compression frontier: every `optimize.method` (and plain PTQ and QAT) from one float model.

Each point is a fork of the benchmark's float model taken through
`Run.quantize` to its own evaluated int8 file, so its accuracy, gzip bytes
and latency are those of a file the shipped command writes. The benchmark's
own run (its recipe) and that run's float32 file are points too.

`make bench` measures it for each data set's benchmark run; for any other
finished run (your own data, a subset):

    python -m benchmarks.frontier RUN_DIR [--work DIR] [--methods ptq,qat,...]

writes DIR/frontier_<run>.png and .json (the forks go to DIR/<run>_<method>)
and prints the README-style table.
"""

import argparse
import json
import shutil
from pathlib import Path

from matplotlib.figure import Figure

from lepton_tf import Run
from lepton_tf.errors import LeptonError, RunFolderError
from lepton_tf.fileio import atomic_path, write_text

INT8 = "tflite/int8.tflite"
FLOAT32 = "tflite/float32.tflite"
# name -> config overrides of its fork. pqat75 is also the "75% + int8" column of the accuracy table.
METHODS = {
    "ptq": ["optimize.sparsity=0", "optimize.skip_quantize=true"],
    "qat": ["optimize.sparsity=0"],
    "pqat75": ["optimize.sparsity=0.75"],
    "2to4": ["optimize.method=2to4"],
    "cluster16": ["optimize.method=cluster", "optimize.clusters=16"],
    "cluster32": ["optimize.method=cluster", "optimize.clusters=32"],
    "pcqat16": ["optimize.method=pcqat", "optimize.clusters=16", "optimize.sparsity=0.5"],  # 50%, whatever the run has
}
# The forks measure their files' size, accuracy and latency; robustness and MediaPipe are the main run's.
FORK_OVERRIDES = ["export.robustness_examples=0", "export.mediapipe_examples=0"]


def measure(run, work_dir, methods, file_figures):
    """{point: figures} for the run's float32 and int8 files and each method's int8 file, plus each fork's stages.

    Args:
      run: the benchmark's finished `Run` (trained and quantized).
      work_dir: where the forks go (`<data set>_<method>` folders, replaced).
      methods: names from METHODS to measure.
      file_figures: `suite.file_figures`, the figures a result keeps of one file's card entry.
    """
    card = run.card.to_dict()
    points = {"float32": _point(card, FLOAT32, file_figures), "recipe": _point(card, INT8, file_figures)}
    for name in methods:
        fork_dir = work_dir / f"{run.folder.name}_{name}"
        shutil.rmtree(fork_dir, ignore_errors=True)
        run.fork(fork_dir)
        fork = Run.open(fork_dir, [*METHODS[name], *FORK_OVERRIDES]).quantize()
        points[name] = _point(fork.card.to_dict(), INT8, file_figures)
    return points


def _point(card, path, file_figures):
    entry = card["artifacts"][path]
    stages = {stage: {key: value for key, value in result.items() if key in ("accuracy", "sparsity", "clusters")}
              for stage, result in card["stages"].items()}
    return {**file_figures(entry), "weights": entry.get("weights"), "stages": stages}


def plot(name, points, path):
    """Accuracy against gzip bytes and against p50 latency (1 thread), every point labelled, to `path`."""
    figure = Figure(figsize=(11, 4.5))
    axes = figure.subplots(1, 2)
    for axis, key, label in ((axes[0], "gzip_bytes", "gzip bytes of the file"),
                             (axes[1], "latency_ms_p50", "p50 latency, 1 thread (ms)")):
        for point, figures in points.items():
            axis.scatter(figures[key], figures["accuracy"], color="tab:red" if point == "float32" else "tab:blue")
            axis.annotate(point, (figures[key], figures["accuracy"]), textcoords="offset points", xytext=(4, 4),
                          fontsize=8)
        axis.set_xlabel(label)
        axis.set_ylabel("test accuracy of the file")
        axis.grid(alpha=0.3)
    axes[0].set_xscale("log")
    figure.suptitle(f"{name}: compression frontier (int8 files unless named float32)")
    figure.tight_layout()
    with atomic_path(path, suffix=".png") as tmp:
        figure.savefig(tmp, format="png", dpi=100)


def best_within(points, float_accuracy, points_lost):
    """The point with the smallest gzip share of float32's among those within `points_lost` of float accuracy."""
    if "float32" not in points:
        return None, None
    base = points["float32"]["gzip_bytes"]
    eligible = [(figures["gzip_bytes"] / base, name) for name, figures in points.items()
                if name != "float32" and float_accuracy - figures["accuracy"] <= points_lost]
    return min(eligible, default=(None, None))


def main(argv=None):
    """Measures the frontier of one finished run (see the module docstring)."""
    from benchmarks import report, suite  # suite imports this module

    parser = argparse.ArgumentParser(prog="python -m benchmarks.frontier", description=__doc__.splitlines()[0])
    parser.add_argument("run_dir", type=Path, help="a trained and quantized run folder")
    parser.add_argument("--work", type=Path, help="where the forks and results go (default: beside the run)")
    parser.add_argument("--methods", default=",".join(METHODS), help=f"from {', '.join(METHODS)}")
    args = parser.parse_args(argv)
    methods = [name.strip() for name in args.methods.split(",") if name.strip()]
    unknown = sorted(set(methods) - set(METHODS))
    if unknown:
        parser.error(f"unknown method(s) {unknown}; choose from {', '.join(METHODS)}")
    try:
        run = Run.open(args.run_dir)
        if INT8 not in run.card.artifacts:
            raise RunFolderError(f"{args.run_dir} has no int8 file yet: run `lepton quantize {args.run_dir}` first")
        work = args.work or args.run_dir.resolve().parent
        name = run.folder.name
        points = measure(run, work, methods, suite.file_figures)
    except LeptonError as error:
        parser.exit(2, f"{parser.prog}: error: {error}\n")
    plot(name, points, work / f"frontier_{name}.png")
    float_accuracy = run.card.stages["float"].accuracy
    write_text(work / f"frontier_{name}.json", json.dumps({"float_accuracy": float_accuracy, "points": points},
                                                          indent=1))
    result = {"median": {"ours": {"methods": points, "float": {"accuracy": float_accuracy}}}}  # a bench result's shape
    print(report.frontier_table({name: result}))


if __name__ == "__main__":
    main()
