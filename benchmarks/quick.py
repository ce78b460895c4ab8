"""`make bench QUICK=1`: the same code on tiny slices of the real data sets, in minutes.

Images are symlinked and sentences written into a scratch folder (nothing is
copied into the repository); the recipes are shrunk with config overrides.
"""

from pathlib import Path

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
IMAGES_PER_CLASS = {"train": 12, "test": 6}
ROWS = {"train": 240, "dev": 60, "test": 80}  # first rows of each TSV file
OVERRIDES = ["model.width=4", "model.embedding_dim=8", "train.epochs=1", "optimize.prune_epochs=1",
             "optimize.qat_epochs=1", "optimize.cluster_epochs=1", "export.latency_runs=3", "export.representative_examples=16",
             "export.mediapipe_examples=8", "data.batch_size=16"]


def image_slice(source, destination, counts=None):
    """Symlinks the first files of each class (sorted) of train/ and test/ into `destination`.

    Args:
      counts: files a class for each split ({"train": 12, "test": 6} by default).
    """
    for split, count in (counts or IMAGES_PER_CLASS).items():
        for class_dir in sorted((source / split).iterdir()):
            target = destination / split / class_dir.name
            target.mkdir(parents=True, exist_ok=True)
            for image in sorted(class_dir.iterdir())[:count]:
                link = target / image.name
                if not link.is_symlink():
                    link.symlink_to(image.resolve())
    return destination


def text_slice(source, destination):
    """Writes the header and first rows of each TSV split of `source` into `destination`."""
    destination.mkdir(parents=True, exist_ok=True)
    for path in sorted(source.glob("*.tsv")):
        with path.open(encoding="utf-8") as handle:
            lines = [line for _, line in zip(range(ROWS.get(path.stem, 0) + 1), handle)]
        (destination / path.name).write_text("".join(lines), encoding="utf-8")
    return destination


def overrides(name, scratch, shared_data=SHARED_DATA):
    """Config overrides that point data set `name` at its tiny slice and shrink its recipe."""
    source = shared_data / name
    make_slice = image_slice if name == "cifar10" else text_slice
    return [f"data.source={make_slice(source, scratch / 'data' / name)}", *OVERRIDES]
