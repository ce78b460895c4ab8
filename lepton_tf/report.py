"""MODEL_CARD.md: the run's model card as a person reads it, after Mitchell et al. 2019.

*Model Cards for Model Reporting* (Mitchell et al., FAT* 2019) names the
sections; every figure comes from `model_card.json` (a `ModelCard`), and the
texts a run cannot know (intended use, licence) from the config's `card:`
section or a default that says it is one. `write_report` rewrites the file and
`confusion_matrix.png` whenever a stage changes the card.

TensorFlow is never imported here: the report is rendered from figures alone.
"""

import math
import re
from pathlib import Path

import numpy as np

import lepton_tf
from lepton_tf.card import STAGE_ORDER, tflite_path
from lepton_tf.fileio import write_text
from lepton_tf.plots import plot_confusion_matrices
from lepton_tf.robustness.report import PLOT_FILE as ROBUSTNESS_PLOT
from lepton_tf.robustness.report import REPORT_FILE as ROBUSTNESS_REPORT
from lepton_tf.robustness.summary import group_means

REPORT_FILE = "MODEL_CARD.md"
CONFUSION_FILE = "confusion_matrix.png"
CURVES_FILE = "curves.png"
# The two files whose per-class figures the report shows: the unquantized export and the full-integer one.
REFERENCE_FILES = (("float32 file", tflite_path("float32")), ("int8 file", tflite_path("int8")))
LISTED_CLASSES = 20  # class names spelled out in the default intended use
SMALL_TEST_SPLIT = 1000  # below this many test examples the caveats call the split small
LOW_AGREEMENT = 0.98  # exported files agreeing less often with their Keras model are named in the caveats
Z_95 = 1.959963984540054  # standard normal quantile of a two-sided 95% interval
APACHE_WEIGHTS = {"imagenet": "EfficientNet-Lite ImageNet weights: Apache-2.0"}
RESIZE_MODES = {"squash": "stretched to a square, as MediaPipe does", "crop": "centre square cropped",
                "pad": "padded to a square with black bars"}
QUANTIZATION = {"float32": "float32 (not quantized)", "float16": "float16 weights",
                "dynamic": "dynamic range (int8 weights, float activations)",
                "int8": "full integer (int8 weights and activations)"}


def confusion_matrix(labels, predicted, num_classes):
    """Counts test examples by true and predicted class.

    Args:
      labels: true class indices, one per example.
      predicted: predicted class indices, one per example.
      num_classes: the number of classes (rows and columns).

    Returns:
      [true class][predicted class] counts, a list of lists of ints.

    Raises:
      ValueError: the two sequences differ in length or hold an index outside [0, num_classes).
    """
    labels = np.asarray(labels, dtype=np.int64).ravel()
    predicted = np.asarray(predicted, dtype=np.int64).ravel()
    if labels.shape != predicted.shape:
        raise ValueError(f"{len(labels)} labels but {len(predicted)} predictions")
    for name, values in (("label", labels), ("prediction", predicted)):
        if values.size and (values.min() < 0 or values.max() >= num_classes):
            raise ValueError(f"a {name} is outside [0, {num_classes})")
    matrix = np.zeros((num_classes, num_classes), dtype=np.int64)
    np.add.at(matrix, (labels, predicted), 1)
    return matrix.tolist()


def per_class_metrics(matrix, class_names):
    """Precision, recall, F1 and support of each class from a confusion matrix.

    A class never predicted has precision 0.0 (not NaN), a class absent from
    the split recall 0.0, and F1 is 0.0 when precision and recall both are.

    Args:
      matrix: [true class][predicted class] counts.
      class_names: the names of the classes, in index order.

    Returns:
      One dict per class: {"class", "precision", "recall", "f1", "support"}.
    """
    counts = np.asarray(matrix, dtype=np.int64)
    if counts.shape != (len(class_names), len(class_names)):
        raise ValueError(f"a {counts.shape} matrix for {len(class_names)} classes")
    hits = np.diag(counts).astype(float)
    precision = _ratio(hits, counts.sum(axis=0))
    recall = _ratio(hits, counts.sum(axis=1))
    f1 = _ratio(2 * precision * recall, precision + recall)
    return [{"class": name, "precision": float(p), "recall": float(r), "f1": float(f), "support": int(s)}
            for name, p, r, f, s in zip(class_names, precision, recall, f1, counts.sum(axis=1))]


def wilson_interval(accuracy, examples, z=Z_95):
    """The Wilson score interval of an accuracy measured on `examples` examples (95% by default).

    Returns:
      (low, high) as fractions, or None when there are no examples.
    """
    if not examples:
        return None
    n, z2 = float(examples), z * z
    centre = (accuracy + z2 / (2 * n)) / (1 + z2 / n)
    half = z * math.sqrt(accuracy * (1 - accuracy) / n + z2 / (4 * n * n)) / (1 + z2 / n)
    return max(0.0, centre - half), min(1.0, centre + half)


def write_report(run_dir, card, config):
    """Writes `confusion_matrix.png` (when the card holds a matrix) and then `MODEL_CARD.md`, atomically.

    Args:
      run_dir: the run folder.
      card: the run's `ModelCard`.
      config: the run's `Config`; its `card` section supplies the texts a run cannot know.
    """
    run_dir = Path(run_dir)
    matrices = plotted_matrices(card)
    if matrices:
        plot_confusion_matrices(matrices, card.labels, run_dir / CONFUSION_FILE,
                                f"{card.name or card.model.name}: test split, rows normalised per true class")
    write_text(run_dir / REPORT_FILE, render(card, config, run_dir, bool(matrices)))


def plotted_matrices(card):
    """Title -> confusion matrix of what `confusion_matrix.png` shows, in panel order.

    Both reference files when both have a matrix (int8 beside float32), else
    the one that has; with neither, the Keras stages float and qat.
    """
    files = {title: card.artifacts[path].confusion_matrix for title, path in REFERENCE_FILES
             if path in card.artifacts and card.artifacts[path].confusion_matrix}
    if files:
        return files if len(files) == len(REFERENCE_FILES) else dict(list(files.items())[:1])
    return {f"{stage} (Keras)": card.stages[stage].confusion_matrix for stage in ("float", "qat")
            if stage in card.stages and card.stages[stage].confusion_matrix}


def render(card, config, run_dir, has_confusion_png):
    """The text of MODEL_CARD.md (see `write_report`)."""
    usage = _usage(card, config)
    title = [f"# Model card: {card.name or card.model.name}", "",
             f"Generated from `model_card.json` by lepton_tf {lepton_tf.__version__}; it will be overwritten. "
             "Set the texts in the config's `card:` section instead of editing this file."]
    sections = [
        ["## Model details", *_model_details(card, usage["license"])],
        ["## Intended use", usage["intended_use"]],
        ["## Out-of-scope use", usage["out_of_scope_use"]],
        ["## Factors", *_factors(card)],
        ["## Metrics", *_metrics(card)],
        ["## Evaluation data", *_evaluation_data(card)],
        ["## Training data", *_training_data(card)],
        ["## Quantitative analyses", *_quantitative_analyses(card, Path(run_dir), has_confusion_png)],
        ["## Ethical considerations", *_ethical_considerations(card)],
        ["## Caveats and recommendations", *_caveats(card)],
    ]
    return "\n\n".join(["\n".join(title), *map(_section, sections)]) + "\n"


def _section(lines):
    heading, *body = lines
    return "\n".join([heading, "", *body])


def _usage(card, config):
    """intended_use, out_of_scope_use, license: the config's, else the card's, else a default built from the run."""
    given = getattr(config, "card", None)
    defaults = {"intended_use": _default_intended_use, "out_of_scope_use": _default_out_of_scope_use,
                "license": _default_license}
    return {field: getattr(given, field, "") or getattr(card.usage, field, "") or default(card)
            for field, default in defaults.items()}


def _default_intended_use(card):
    names = ", ".join(f"`{name}`" for name in card.labels[:LISTED_CLASSES])
    more = ", …" if len(card.labels) > LISTED_CLASSES else ""
    return (f"Classifying {_kind(card)} into one of {len(card.labels)} classes ({names}{more}), for inputs like "
            f"those of `{card.data.source}`, the data it was trained and tested on. This is a default text: "
            "set `card.intended_use` in the config to say who should use the model, and for what.")


def _default_out_of_scope_use(card):
    return "\n".join([
        f"- Inputs unlike the training data (`{card.data.source}`): other sources, conditions or "
        f"{'languages' if card.task == 'text' else 'cameras'}; accuracy there was not measured.",
        "- Classes not in the label list: the model always answers one of its "
        f"{len(card.labels)} classes, with no way to say \"none of these\".",
        "- Decisions about people (access, credit, employment, health, policing) without human review.",
        "",
        "This is a default text: set `card.out_of_scope_use` in the config to add what you know."])


def _default_license(card):
    transfer = card.model.transfer or {}
    pretrained = transfer.get("pretrained")
    if pretrained:
        terms = APACHE_WEIGHTS.get(pretrained, f"check those of `{transfer.get('weights') or pretrained}`")
        weights = f" and of the pretrained weights it started from ({terms})"
    else:
        weights = ""
    return (f"Not set (`card.license`). The trained weights carry the terms of the training data "
            f"(`{card.data.source}`){weights}. lepton_tf itself is Apache-2.0.")


def _kind(card):
    return {"image": "images", "text": "texts"}.get(card.task, "inputs")


def _model_details(card, license_text):
    params = card.model.params
    lines = [f"- Architecture: `{card.model.name or 'not recorded'}`",
             f"- Parameters: {'not recorded' if params is None else f'{params:,}'}",
             f"- Task: {card.task or 'unknown'} classification, {len(card.labels)} classes",
             f"- lepton_tf version: {lepton_tf.__version__}; model card schema version: {card.schema_version}",
             f"- Date: {card.created or 'not recorded'}",
             f"- Licence: {license_text}",
             f"- Run status: {card.status}" + (f" ({card.error})" if card.error else ""),
             "- Training:"]
    lines += [f"  - {stage}: {_stage_training(card, stage)}" for stage in STAGE_ORDER if stage in card.stages]
    if not card.stages:
        lines.append("  - no stage has finished yet")
    lines.append(f"- Command: `{card.command}`" if card.command else "- Command: not recorded")
    return lines


def _stage_training(card, stage):
    result = card.stages[stage]
    text = f"{result.epochs} epoch{'' if result.epochs == 1 else 's'}, {result.train_seconds:,.1f} s"
    if result.kept_epoch:
        text += f", weights of epoch {result.kept_epoch} kept (lowest validation loss)"
    if stage == "float" and card.model.transfer and card.model.transfer.get("pretrained"):
        text += f", from `{card.model.transfer['pretrained']}` pretrained weights"
    if result.structure == "2:4":
        text += ", pruned to 2:4 structured sparsity (2 zeros in every 4 input-channel weights)"
    elif result.structure:
        text += f", {result.structure} pruned towards {_percent(result.target_sparsity)} zero weights"
    elif result.target_sparsity is not None:
        text += f", pruned towards {_percent(result.target_sparsity)} zero weights"
    if result.clusters and stage == "clustered":
        text += f", clustered to {result.clusters} shared values per kernel (batch norms folded first)"
    if result.scheme:
        text += f", TF-MOT scheme `{result.scheme}`"
    if result.source:
        text += f", fine-tuned from the {result.source} model"
    return text


def _factors(card):
    formats = [key.split("/", 1)[1] for key in (a.format for a in card.artifacts.values()) if key.startswith("tflite/")]
    quantized = ", ".join(QUANTIZATION.get(fmt, fmt) for fmt in formats) or "none exported yet"
    return ["- Results are broken down per class only. Nothing in the data records capture device, lighting, "
            "language, dialect or the people shown or writing, so no result is broken down by them.",
            f"- Inputs: {_input_description(card)}",
            f"- Quantization formats, each file measured on its own: {quantized}."]


def _input_description(card):
    shape = card.input.get("shape") or []
    if card.task == "image" and len(shape) >= 2:
        resize = card.input.get("resize", "squash")
        norm = card.input.get("normalization", {})
        return (f"images are resized to {shape[0]}×{shape[1]} pixels ({resize}: "
                f"{RESIZE_MODES.get(resize, resize)}) and normalised per RGB channel as (pixel − mean) / std, "
                f"mean {norm.get('mean')}, std {norm.get('std')} (the training set's, or the pretrained "
                "weights' own).")
    tokenizer = card.input.get("tokenizer") or {}
    if card.task == "text" and shape:
        return (f"texts are lower-cased and split by the `{tokenizer.get('kind', '?')}` tokenizer "
                f"(vocabulary of {tokenizer.get('vocabulary_size', 0):,} tokens) into {shape[0]} token ids; "
                f"tokens past the {shape[0]}th are cut off and never seen.")
    return "preprocessed as `input` in model_card.json describes."


def _metrics(card):
    lines = ["- Top-1 accuracy on the test split.",
             "- Agreement: the share of test examples whose top-1 class from an exported file equals the "
             "source Keras model's (how faithful the conversion is, whatever the labels).",
             "- Per class: precision, recall and F1, from the test split's confusion matrix.",
             "- Latency: median (p50) of single-example invocations on one CPU thread, on the machine that "
             "exported the files.",
             "- File size in bytes."]
    if any(a.mediapipe_accuracy is not None for a in card.artifacts.values()):
        lines.append("- MediaPipe accuracy and agreement: the same, with the file run by MediaPipe Tasks.")
    lines.append(f"- Uncertainty: {_interval_sentence(card)}")
    return lines


def _interval_sentence(card):
    best = _best_accuracy(card)
    if best is None:
        return "no accuracy has been measured yet."
    label, accuracy, examples = best
    interval = wilson_interval(accuracy, examples)
    if interval is None:
        return f"{label} has accuracy {_percent(accuracy)}; the test split size is not recorded."
    return (f"{label} has accuracy {_percent(accuracy)}, 95% Wilson interval {_percent(interval[0])} to "
            f"{_percent(interval[1])} over {examples:,} test examples.")


def _best_accuracy(card):
    """(what, accuracy, test examples) of the best exported file, else of the float Keras model, else None."""
    examples = card.data.examples.get("test")
    measured = [(a.accuracy, path, a.examples) for path, a in card.artifacts.items() if a.accuracy is not None]
    if measured:
        accuracy, path, counted = max(measured, key=lambda entry: entry[0])
        return f"the best exported file, `{path}`,", accuracy, examples or counted
    if "float" in card.stages:
        return "no file is exported yet; the float Keras model", card.stages["float"].accuracy, examples
    return None


def _evaluation_data(card):
    test = card.data.examples.get("test")
    count = "an unrecorded number of" if test is None else f"{test:,}"
    return [f"The test split of `{card.data.source}`: {count} examples, never used for training or for "
            "choosing when to stop. How the split was made is not recorded in the model card (see the run's "
            "`config.yaml`)."]


def _training_data(card):
    examples = card.data.examples
    lines = [f"- Source: `{card.data.source}`",
             f"- Training examples: {_count(examples.get('train'))}",
             f"- Validation examples: {_count(examples.get('val'))}",
             f"- Skipped (unreadable or unusable) inputs: {card.data.skipped:,}"]
    if card.data.skipped:
        lines.append("  (the first are listed with their reason in model_card.json)")
    return lines


def _quantitative_analyses(card, run_dir, has_confusion_png):
    lines = ["### Stages (Keras, test split)", "", *_stage_table(card), "", "### Exported files (test split)", "",
             *_file_table(card), *_robustness_section(card)]
    sources = _per_class_sources(card)
    for title, label, matrix in sources:
        metrics = per_class_metrics(matrix, card.labels)
        lines += ["", f"### Per class: {title} ({label})", "", *_per_class_table(metrics)]
    if not sources:
        lines += ["", "No confusion matrix is recorded yet, so there are no per-class figures."]
    if (run_dir / CURVES_FILE).exists():
        lines += ["", f"![Learning curves]({CURVES_FILE})"]
    if has_confusion_png:
        lines += ["", f"![Confusion matrices]({CONFUSION_FILE})"]
    return lines


def _stage_table(card):
    stages = [stage for stage in STAGE_ORDER if stage in card.stages]
    if not stages:
        return ["No stage has finished yet."]
    sparse = any(card.stages[stage].sparsity is not None for stage in stages)
    header = ["stage", "Keras test accuracy"] + (["sparsity"] if sparse else [])
    rows = [[stage, _percent(card.stages[stage].accuracy)] + ([_percent(card.stages[stage].sparsity)] if sparse else [])
            for stage in stages]
    return _table(header, rows)


def _file_table(card):
    if not card.artifacts:
        return ["No file has been exported yet."]
    header = ["file", "bytes", "accuracy", "agreement", "p50 ms", "MediaPipe accuracy", "MediaPipe agreement"]
    rows = [[f"`{path}`", _count(a.bytes, "-"), _percent(a.accuracy), _percent(a.agreement),
             "-" if a.latency_ms_p50 is None else f"{a.latency_ms_p50:.3f}", _percent(a.mediapipe_accuracy),
             _percent(a.mediapipe_agreement)] for path, a in card.artifacts.items()]
    return _table(header, rows)


def _robustness_section(card):
    """Each file (a column) on each kind of perturbed input (a row; image corruptions averaged over severities)."""
    measured = {path: a.robustness for path, a in card.artifacts.items() if a.robustness}
    if not measured:
        return []
    first = next(iter(measured.values()))
    groups = {path: group_means(entry["perturbations"]) for path, entry in measured.items()}
    header = ["test inputs", *(f"`{path}`" for path in measured)]
    rows = [["clean (the same examples)", *(_percent(e["clean_accuracy"]) for e in measured.values())],
            *([name, *(_percent(groups[path].get(name)) for path in measured)] for name in groups[next(iter(groups))]),
            ["**mean, perturbed**", *(_percent(e["mean_accuracy"]) for e in measured.values())],
            ["**mean / clean**", *("-" if e["relative"] is None else f"{e['relative']:.3f}" for e in measured.values())]]
    return ["", "### Robustness (test split, perturbed)", "",
            f"Accuracy of each file on {first['set']} (seed {first['seed']}; `lepton_tf/robustness/` says how each "
            f"is made; `{ROBUSTNESS_PLOT}` and `{ROBUSTNESS_REPORT}` have every set).", "", *_table(header, rows)]


def _per_class_sources(card):
    """(title, where, matrix) of the per-class tables: the reference files with matrices, else the float stage."""
    files = [(title, f"`{path}`", card.artifacts[path].confusion_matrix) for title, path in REFERENCE_FILES
             if path in card.artifacts and card.artifacts[path].confusion_matrix]
    if files:
        return files
    float_stage = card.stages.get("float")
    if float_stage and float_stage.confusion_matrix:
        return [("float (Keras)", "the float stage", float_stage.confusion_matrix)]
    return []


def _per_class_table(metrics):
    rows = [[_escape(m["class"]), _percent(m["precision"]), _percent(m["recall"]), _percent(m["f1"]),
             f"{m['support']:,}"] for m in metrics]
    return _table(["class", "precision", "recall", "F1", "support"], rows)


def _ethical_considerations(card):
    return ["- The model learns whatever the training data holds, its biases and labelling errors included; "
            "it is only as fair and as correct as that data.",
            "- No fairness evaluation across groups of people was run, and the data records no such groups.",
            f"- {len(card.labels)} fixed classes: an input of none of them still gets one of them, with a "
            "probability that can look confident.",
            "- Where the predictions affect people, keep a person in the loop and measure on data from "
            "the people concerned first."]


def _caveats(card):
    lines = [_small_split_caveat(card), _recall_gap_caveat(card), _int8_drop_caveat(card)]
    lines += [f"- `{path}` agrees with its source Keras model on only {_percent(a.agreement)} of test examples "
              f"(below {_percent(LOW_AGREEMENT)}): check it on your own data before shipping it."
              for path, a in card.artifacts.items() if a.agreement is not None and a.agreement < LOW_AGREEMENT]
    lines += [f"- MediaPipe Tasks cannot run `{path}`: {a.mediapipe}" for path, a in card.artifacts.items()
              if a.mediapipe]
    if card.status != "done":
        lines.append(f"- The run is not finished (status {card.status}); later stages may change these figures.")
    lines.append("- Accuracy and latency were measured on the test split and the exporting machine. Re-measure "
                 "both on your own device, with data it will really see, before relying on them.")
    return [line for line in lines if line]


def _small_split_caveat(card):
    test = card.data.examples.get("test")
    best = _best_accuracy(card)
    if not test or test >= SMALL_TEST_SPLIT or best is None:
        return ""
    low, high = wilson_interval(best[1], test)
    return (f"- The test split is small ({test:,} examples): the 95% interval on accuracy is "
            f"{100 * (high - low):.2f} points wide, so differences smaller than that between files or runs "
            "may be noise.")


def _recall_gap_caveat(card):
    sources = _per_class_sources(card)
    if not sources or len(card.labels) < 2:
        return ""
    title, _, matrix = sources[0]
    present = [m for m in per_class_metrics(matrix, card.labels) if m["support"]]
    if len(present) < 2:
        return ""
    worst = min(present, key=lambda m: m["recall"])
    best = max(present, key=lambda m: m["recall"])
    return (f"- Per-class recall on the {title} ranges from {_percent(worst['recall'])} (`{worst['class']}`) to "
            f"{_percent(best['recall'])} (`{best['class']}`): a gap of "
            f"{100 * (best['recall'] - worst['recall']):.2f} points. Collect more examples of the weakest classes.")


def _int8_drop_caveat(card):
    int8 = card.artifacts.get(tflite_path("int8"))
    float_file = card.artifacts.get(tflite_path("float32"))
    if int8 is None or int8.accuracy is None:
        return ""
    if float_file is not None and float_file.accuracy is not None:
        reference, label = float_file.accuracy, "float32 file"
    elif "float" in card.stages:
        reference, label = card.stages["float"].accuracy, "float Keras model"
    else:
        return ""
    drop = 100 * (reference - int8.accuracy)
    change = f"costs {drop:.2f} points" if drop >= 0 else f"gains {-drop:.2f} points"
    return (f"- int8 quantization {change} of accuracy: the int8 file scores {_percent(int8.accuracy)} against "
            f"{_percent(reference)} for the {label}.")


def _table(header, rows):
    return ["| " + " | ".join(header) + " |", "|" + "|".join(" --- " for _ in header) + "|",
            *("| " + " | ".join(row) + " |" for row in rows)]


def _ratio(numerator, denominator):
    """numerator / denominator, 0.0 where the denominator is 0 (a class never predicted or never present)."""
    denominator = np.asarray(denominator, dtype=float)
    return np.divide(numerator, denominator, out=np.zeros(denominator.shape), where=denominator > 0)


def _percent(value):
    return "-" if value is None else f"{100 * value:.2f}%"


def _count(value, missing="not recorded"):
    return missing if value is None else f"{value:,}"


def _escape(text):
    """A class name safe inside a markdown table cell: markdown's special characters shown as they are."""
    return re.sub(r"([\\|`*_\[\]<>#])", r"\\\1", str(text))
