"""Median and spread over runs, the results JSON, and the README tables built from them."""

import json
import re
import statistics

from lepton_tf.fileio import write_text

from benchmarks.hardware import hardware_line
from benchmarks.targets import int8_and_float32, min_agreement

README_START, README_END = "<!-- bench:start -->", "<!-- bench:end -->"


def _flatten(record, prefix=()):
    for key, value in record.items():
        if isinstance(value, dict):
            yield from _flatten(value, (*prefix, key))
        elif isinstance(value, (int, float)) and not isinstance(value, bool):
            yield (*prefix, key), value


def _nest(flat):
    nested = {}
    for path, value in flat.items():
        node = nested
        for key in path[:-1]:
            node = node.setdefault(key, {})
        node[path[-1]] = value
    return nested


def aggregate(records):
    """Median and spread (max - min) of every number the records share; records are nested dicts."""
    flat = [dict(_flatten(record)) for record in records]
    shared = [path for path in flat[0] if all(path in other for other in flat)]
    median = {path: statistics.median(other[path] for other in flat) for path in shared}
    spread = {path: max(other[path] for other in flat) - min(other[path] for other in flat) for path in shared}
    return _nest(median), _nest(spread)


def write_result(path, result):
    """Writes one data set's result JSON atomically."""
    write_text(path, json.dumps(result, indent=1, sort_keys=False) + "\n")


def _pct(value, spread=None):
    text = f"{100 * value:.2f}%"
    return f"{text} ±{50 * spread:.2f}" if spread else text


def _kb(value):
    return f"{value / 1000:,.0f} KB"


def _us(milliseconds):
    return f"{1000 * milliseconds:,.1f}"


def _si(value, unit):
    """1.9e8 → '190.7 M' + unit: three significant figures with a k/M/G prefix."""
    for prefix, scale in (("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if abs(value) >= scale:
            return f"{value / scale:.3g} {prefix}{unit}"
    return f"{value:.3g} {unit}"


def _table(columns, rows):
    """A Markdown table: the header, its separator, then one line a row of cells."""
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    return "\n".join(lines + ["| " + " | ".join(row) + " |" for row in rows])


ACCURACY_COLUMNS = ["data set", "runs", "float", "pruned 50%", "PQAT", "int8 file", "int8 / float32 bytes",
                    "75% + int8 file", "75% int8 gzip / float32 gzip", "min agreement", "tutorial float",
                    "tutorial int8 file", "tutorial int8 bytes"]
COST_COLUMNS = ["data set", "float training", "epochs", "train examples/s", "params", "forward FLOPs/example",
                "training FLOP/s (share of matmul)", "pipeline examples/s", "input wait",
                "float32 p50 µs (1 / 2 threads)", "int8 p50 µs (1 / 2 threads)", "tutorial int8 p50 µs",
                "tutorial epochs in the same time"]


def accuracy_table(results):
    """Accuracy and size: float → pruned → QAT → int8 file, the 75% frontier and the tutorial recipe."""
    rows = []
    for name, result in results.items():
        m, s, p = result["median"]["ours"], result["spread"]["ours"], result["median"]["peer"]
        int8, f32 = int8_and_float32(m)
        rows.append([
            name, str(result["runs"]), _pct(m["float"]["accuracy"], s["float"]["accuracy"]),
            _pct(m["pruned"]["accuracy"]) if "accuracy" in m["pruned"] else "not pruned", _pct(m["qat"]["accuracy"]),
            _pct(int8["accuracy"], s["files"]["tflite/int8.tflite"]["accuracy"]),
            f"{_kb(int8['bytes'])} / {_kb(f32['bytes'])} ({int8['bytes'] / f32['bytes']:.0%})",
            _pct(m["frontier"]["int8"]["accuracy"]), f"{m['frontier']['int8']['gzip_bytes'] / f32['gzip_bytes']:.1%}",
            _pct(min_agreement(m)), _pct(p["float"]["accuracy"]), _pct(p["int8"]["accuracy"]),
            _kb(p["int8"]["bytes"])])
    return _table(ACCURACY_COLUMNS, rows)


def cost_table(results):
    """Training cost, hardware efficiency, input pipeline and latency."""
    rows = []
    for name, result in results.items():
        m, p = result["median"]["ours"], result["median"]["peer"]
        matmul = result["hardware"]["matmul_flops_per_second"]
        fl, pipe = m["float"], m["input_pipeline"]
        int8, f32 = int8_and_float32(m)
        rows.append([
            name, f"{fl['train_seconds']:.0f} s", f"{fl['epochs']:.0f}", f"{fl['step_examples_per_second']:,.0f}",
            f"{fl['params']:,.0f}", _si(fl["forward_flops"], "FLOP"),
            f"{_si(fl['training_flops_per_second'], 'FLOP/s')} ({fl['training_flops_per_second'] / matmul:.0%} "
            f"of {_si(matmul, 'FLOP/s')})",
            f"{pipe['examples_per_second']:,.0f}", f"{pipe['input_wait_fraction']:.1%}",
            f"{_us(f32['latency_ms_p50'])} / {_us(f32['latency_ms_p50_2_threads'])}",
            f"{_us(int8['latency_ms_p50'])} / {_us(int8['latency_ms_p50_2_threads'])}",
            _us(p["int8"]["latency_ms_p50"]), f"{p['float']['epochs']:.1f}"])
    return _table(COST_COLUMNS, rows)


FRONTIER_COLUMNS = ["data set", "point", "file accuracy", "vs float (pts)", "gzip bytes", "gzip / float32 gzip",
                    "p50 µs (1 thread)", "zeros in kernels", "most values in a channel"]


def frontier_table(results):
    """Every compression-frontier point of each data set: its file's accuracy, gzip bytes and latency."""
    rows = []
    for name, result in results.items():
        m = result["median"]["ours"]
        points = m.get("methods")
        if not points:
            continue
        base = points["float32"]["gzip_bytes"]
        for point, figures in points.items():
            weights = figures.get("weights") or {}
            rows.append([name, point, _pct(figures["accuracy"]),
                         f"{100 * (figures['accuracy'] - m['float']['accuracy']):+.2f}", f"{figures['gzip_bytes']:,.0f}",
                         f"{figures['gzip_bytes'] / base:.1%}", _us(figures["latency_ms_p50"]),
                         "-" if "zeros" not in weights else f"{weights['zeros']:.1%}",
                         str(weights.get("max_values_per_channel", "-"))])
    if not rows:
        return ""
    return ("Compression frontier: each point is the int8 file of a fork of the same float model through "
            "`make quantize` with that method (`benchmarks/frontier.py`; float32 is the float model's file, recipe "
            "the run's own); `make bench` also plots them in `saved_models/bench/frontier_<data set>.png`.\n\n"
            + _table(FRONTIER_COLUMNS, rows))


def targets_table(results):
    """Every target: measured value, met or missed and by how much."""
    rows = [[name, target["target"], target["measured"], "yes" if target["met"] else f"no, {target['gap']}"]
            for name, result in results.items() for target in result["targets"]]
    return _table(["data set", "target", "measured", "met"], rows)


TRANSFER_FILE_COLUMNS = ["data set", "recipe", "file", "test accuracy", "MediaPipe accuracy (original files)",
                         "MediaPipe agreement", "bytes", "p50 µs (1 / 2 threads)"]
TRANSFER_COST_COLUMNS = ["data set", "recipe", "runs", "model", "params", "Keras float accuracy", "float training",
                         "prune + QAT training", "wait"]
TRANSFER_RECIPES = {"ours": "our defaults", "from_scratch": "from-scratch ResNet", "model_maker": "Model Maker"}


def is_transfer(result):
    """Whether a result is the transfer row (three recipes on photos) rather than a chain-vs-tutorial row."""
    return result.get("kind") == "transfer"


def transfer_file_table(results):
    """Every file of every recipe of the transfer row: accuracy (decoded and through MediaPipe), size, latency."""
    rows = []
    for name, result in results.items():
        for recipe, label in TRANSFER_RECIPES.items():
            for path, entry in result["median"][recipe]["files"].items():
                latency = (f"{_us(entry['latency_ms_p50'])} / {_us(entry['latency_ms_p50_2_threads'])}"
                           if "latency_ms_p50" in entry else "—")
                rows.append([name, label, f"`{path}`", _pct(entry["accuracy"]),
                             _pct(entry["mediapipe_accuracy"]) if "mediapipe_accuracy" in entry else "—",
                             _pct(entry["mediapipe_agreement"]) if "mediapipe_agreement" in entry else "—",
                             _kb(entry["bytes"]), latency])
    return _table(TRANSFER_FILE_COLUMNS, rows)


def transfer_cost_table(results):
    """The model, its float accuracy and what each recipe of the transfer row costs in time."""
    rows = []
    for name, result in results.items():
        for recipe, label in TRANSFER_RECIPES.items():
            m, s = result["median"][recipe], result["spread"][recipe]
            model = result["records"][0][recipe].get("model", "")
            quantize = m.get("quantize_train_seconds")
            rows.append([name, label, str(result["runs"]), model, f"{m['float']['params']:,.0f}",
                         _pct(m["float"]["accuracy"], s["float"]["accuracy"]),
                         f"{m['float']['train_seconds']:.0f} s ({m['float']['epochs']:.0f} epochs)",
                         "—" if quantize is None else f"{quantize:.0f} s", f"{m['wall_seconds']:.0f} s"])
    return _table(TRANSFER_COST_COLUMNS, rows)


def markdown(results):
    """The README section: hardware line, run counts, the chain tables, the transfer tables and the targets."""
    chain = {name: result for name, result in results.items() if not is_transfer(result)}
    transfer = {name: result for name, result in results.items() if is_transfer(result)}
    parts = ["Measured on: " + machines_line(results) + ". `runs` is the number of runs behind each figure "
             "(median; ± is half the spread when runs > 1)."]
    if chain:
        parts += [accuracy_table(chain), cost_table(chain), *filter(None, [frontier_table(chain)])]
    if transfer:
        parts += [transfer_description(transfer), transfer_file_table(transfer), transfer_cost_table(transfer)]
    return "\n\n".join(parts + [targets_table(results)])


def machines_line(results):
    """Each machine the results came from, with its measured matmul rate and its data sets.

    Machines of one kind differ several-fold in speed, so every seconds figure
    is read beside the matmul rate of the machine that produced it.
    """
    machines = {}
    for name, result in results.items():
        hardware = result["hardware"]
        matmul = hardware.get("matmul_flops_per_second")
        line = hardware_line(hardware) + (f" (float32 matmul {matmul / 1e9:.0f} GFLOP/s)" if matmul else "")
        machines.setdefault(line, []).append(f"{name} {result.get('date', '')}".strip())
    return "; ".join(f"{line}: {', '.join(names)}" for line, names in sorted(machines.items()))


def transfer_description(results):
    """One paragraph saying what the transfer tables measured."""
    lines = []
    for name, result in results.items():
        data = result["data"]
        matmul = result["hardware"].get("matmul_flops_per_second")
        speed = f"; its machine's float32 matmul ran at {matmul / 1e9:.0f} GFLOP/s" if matmul else ""
        lines.append(f"`{name}`: {data['source']}, {data['classes']} classes, {data['train_per_class']} training and "
                     f"{data['test_per_class']} test files a class{' (quick slice)' if result['quick'] else ''}{speed}")
    return ("Transfer learning (" + "; ".join(lines) + "). Our defaults, the from-scratch ResNet and MediaPipe "
            "Model Maker's recipe train on the same images; test accuracy is each file on the decoded test images, "
            "MediaPipe accuracy and agreement come from MediaPipe's ImageClassifier on the original full-size test "
            "files, which it resizes itself (agreement: with the same file run by LiteRT on the chain's own resized "
            "pixels; for Model Maker, with its Keras model on its centre-crop view, which MediaPipe does not "
            "reproduce). The wait is wall-clock time from the start until the files exist: "
            "for our chain `make train && make quantize` (which also evaluates every file it writes), for Model Maker "
            "its training and its two exports.")


def update_readme(readme_path, text):
    """Replaces the text between the bench markers of the README (atomically)."""
    content = readme_path.read_text()
    pattern = re.compile(re.escape(README_START) + ".*?" + re.escape(README_END), re.S)
    if not pattern.search(content):
        raise ValueError(f"{readme_path} has no {README_START} … {README_END} section")
    write_text(readme_path, pattern.sub(lambda _: f"{README_START}\n{text}\n{README_END}", content))


def load_results(results_dir, order):
    """Every result JSON in `results_dir`, in `order` (the README lists all measured data sets)."""
    found = {path.stem: json.loads(path.read_text()) for path in results_dir.glob("*.json")}
    return {name: found[name] for name in order if name in found}
