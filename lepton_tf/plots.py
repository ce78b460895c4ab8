"""Learning curves and confusion matrices as PNGs.

Uses matplotlib's `Figure` directly rather than pyplot, so writing a PNG
never changes the global backend (notebooks keep their inline plots).
"""

import numpy as np
from matplotlib.figure import Figure

from lepton_tf.fileio import atomic_path


def plot_curves(history, path, title):
    """Plots loss and accuracy per epoch (train and validation) to `path`.

    Args:
      history: {"loss": [...], "val_loss": [...], "accuracy": [...], ...}.
      path: the PNG to write (atomically).
      title: figure title.
    """
    figure = Figure(figsize=(10, 4))
    axes = figure.subplots(1, 2)
    for axis, metric, label in ((axes[0], "loss", "cross-entropy loss"), (axes[1], "accuracy", "top-1 accuracy")):
        for prefix, style in (("", "-"), ("val_", "--")):
            values = history.get(prefix + metric)
            if values:
                axis.plot(range(1, len(values) + 1), values, style, label=(prefix or "train_") + metric)
        axis.set_xlabel("epoch")
        axis.set_ylabel(label)
        axis.set_title(label)
        axis.grid(alpha=0.3)
        axis.legend()
    figure.suptitle(title)
    figure.tight_layout()
    with atomic_path(path, suffix=".png") as tmp:
        figure.savefig(tmp, format="png", dpi=100)


COUNTED_CLASSES = 20  # beyond this many classes the counts would not fit in their cells
LABELLED_CLASSES = 30  # tick labels for at most this many classes


def plot_confusion_matrices(matrices, class_names, path, title):
    """Plots confusion matrices side by side, each row normalised per true class, to `path`.

    Args:
      matrices: an ordered mapping panel title -> [true class][predicted class] counts.
      class_names: the names of the classes, in index order.
      path: the PNG to write (atomically).
      title: figure title.

    Raises:
      ValueError: no matrix was given.
    """
    if not matrices:
        raise ValueError("plot_confusion_matrices needs at least one matrix")
    count = len(class_names)
    side = min(max(4.0, 2.5 + 0.3 * min(count, LABELLED_CLASSES)), 12.0)
    figure = Figure(figsize=(side * len(matrices) + 1.0, side + 0.8))
    axes = figure.subplots(1, len(matrices), squeeze=False)[0]
    for axis, (panel, matrix) in zip(axes, matrices.items()):
        image = _plot_confusion_panel(axis, np.asarray(matrix, dtype=np.int64), class_names)
        axis.set_title(panel)
    axes[0].set_ylabel("true class")
    for axis in axes[1:]:  # the panels share their rows: names on the first only, where they cannot overlap
        axis.tick_params(labelleft=False)
    figure.colorbar(image, ax=list(axes), shrink=0.8, label="share of the true class")
    figure.suptitle(title)
    with atomic_path(path, suffix=".png") as tmp:
        figure.savefig(tmp, format="png", dpi=100)


def _plot_confusion_panel(axis, counts, class_names):
    """Draws one matrix on `axis`; returns the image (for the colour bar)."""
    support = counts.sum(axis=1, keepdims=True)
    # A class absent from the test split has no row to normalise: leave it blank rather than NaN.
    shares = np.divide(counts, support, out=np.zeros(counts.shape), where=support > 0)
    image = axis.imshow(shares, cmap="Blues", vmin=0.0, vmax=1.0, interpolation="nearest")
    count = len(counts)
    if count <= COUNTED_CLASSES:
        size = max(5, 11 - count // 3)
        for (true, predicted), value in np.ndenumerate(counts):
            colour = "white" if shares[true, predicted] > 0.5 else "black"
            axis.text(predicted, true, str(value), ha="center", va="center", color=colour, fontsize=size)
    labelled = list(class_names[:LABELLED_CLASSES])
    ticks = range(len(labelled))
    axis.set_xticks(ticks, labelled, rotation=90 if count > 6 or max(map(len, labelled), default=0) > 8 else 0)
    axis.set_yticks(ticks, labelled)
    axis.set_xlabel("predicted class")
    return image


def plot_robustness(files, path, title):
    """Each file's accuracy per perturbation (clean first), and per severity where sets have one, to `path`.

    Args:
      files: {file: {"clean_accuracy", "per_perturbation": {name: accuracy},
        "per_severity": {severity: accuracy} (empty for sets without severities)}}.
      path: the PNG to write (atomically).
      title: figure title.
    """
    panels = 2 if any(figures["per_severity"] for figures in files.values()) else 1
    figure = Figure(figsize=(12 if panels == 2 else 9, 4.5))
    axes = np.atleast_1d(figure.subplots(1, panels, gridspec_kw={"width_ratios": [3, 1][:panels]}))
    groups = ["clean", *next(iter(files.values()))["per_perturbation"]]
    width = 0.8 / len(files)
    for offset, (name, figures) in enumerate(files.items()):
        values = [figures["clean_accuracy"], *figures["per_perturbation"].values()]
        axes[0].bar(np.arange(len(groups)) + offset * width - 0.4 + width / 2, values, width, label=name)
    axes[0].set_xticks(np.arange(len(groups)), groups, rotation=45, ha="right", fontsize=8)
    axes[0].set_ylabel("top-1 accuracy")
    axes[0].set_ylim(0, 1)
    axes[0].grid(axis="y", alpha=0.3)
    axes[0].legend(fontsize=8)
    if panels == 2:
        for name, figures in files.items():
            severities = figures["per_severity"]
            axes[1].plot([0, *severities], [figures["clean_accuracy"], *severities.values()], "o-", label=name)
        axes[1].set_xlabel("severity (0 = clean)")
        axes[1].set_ylabel("mean accuracy over corruptions")
        axes[1].set_ylim(0, 1)
        axes[1].grid(alpha=0.3)
    figure.suptitle(title)
    figure.tight_layout()
    with atomic_path(path, suffix=".png") as tmp:
        figure.savefig(tmp, format="png", dpi=100)
