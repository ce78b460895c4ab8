"""Learning curves as a PNG.

Uses matplotlib's `Figure` directly rather than pyplot, so writing a PNG
never changes the global backend (notebooks keep their inline plots).
"""

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
