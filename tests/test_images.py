import json
import logging
from pathlib import Path

import numpy as np
import pytest

from conftest import CLASS_COLOURS, make_image_folder, tiny_config, write_image
from lepton_tf.data.images import load_image_folder
from lepton_tf.data.splits import stratified_split
from lepton_tf.errors import DataError


def data_config(folder, *extra):
    return tiny_config(folder, *extra).data


def test_every_format_and_mode_decodes_to_rgb_at_the_model_size(tmp_path):
    cases = [("a.jpg", "RGB", "JPEG"), ("b.JPEG", "RGB", "JPEG"), ("c.PNG", "L", "PNG"),
             ("d.png", "RGBA", "PNG"), ("e.png", "P", "PNG"), ("f.jpg", "CMYK", "JPEG"),
             ("g.bmp", "RGB", "BMP"), ("h.gif", "P", "GIF"), ("i.webp", "RGB", "WEBP"),
             ("nested/deeper/j.jpg", "RGB", "JPEG")]
    for name, mode, fmt in cases:
        write_image(tmp_path / "red" / name, CLASS_COLOURS["red"], size=20, mode=mode, fmt=fmt)
        write_image(tmp_path / "blue" / name, CLASS_COLOURS["blue"], size=20, mode=mode, fmt=fmt)
    data = load_image_folder(tmp_path, data_config(tmp_path, "data.val_fraction=0", "data.test_fraction=0"))
    assert not data.skipped
    assert len(data.train) == 2 * len(cases)
    assert data.train.images.shape[1:] == (12, 12, 3) and data.train.images.dtype == np.uint8
    red = data.train.images[data.train.labels == data.class_names.index("red")].reshape(-1, 3).mean(0)
    assert red[0] > 120 > red[2]  # still red after every mode conversion (CMYK and palette included)


def test_bad_files_are_skipped_counted_and_named_once(tmp_path, caplog):
    make_image_folder(tmp_path, per_class=4)
    (tmp_path / "red" / "empty.jpg").write_bytes(b"")
    (tmp_path / "red" / "text.png").write_text("not an image")
    good = (tmp_path / "blue" / "000.png").read_bytes()
    (tmp_path / "blue" / "truncated.png").write_bytes(good[: len(good) // 2])
    (tmp_path / "green" / "notes.txt").write_text("readme")
    (tmp_path / "green" / ".DS_Store").write_text("hidden files are ignored")
    with caplog.at_level(logging.WARNING):
        data = load_image_folder(tmp_path, data_config(tmp_path))
    skipped = {path.split("/")[-1]: reason for path, reason in data.skipped}
    assert set(skipped) == {"empty.jpg", "text.png", "truncated.png", "notes.txt"}
    assert skipped["empty.jpg"] == "empty file"
    assert len(data.train) + len(data.val) + len(data.test) == 12
    warnings = [r for r in caplog.records if "skipped 4" in r.getMessage()]
    assert len(warnings) == 1 and "truncated.png" in warnings[0].getMessage()


def test_class_order_is_sorted_names_and_splits_are_stratified(tmp_path):
    make_image_folder(tmp_path, per_class=10)
    data = load_image_folder(tmp_path, data_config(tmp_path))
    assert data.class_names == ["blue", "green", "red"]
    for split in (data.train, data.val, data.test):
        assert np.bincount(split.labels, minlength=3).min() > 0
    all_paths = data.train.paths + data.val.paths + data.test.paths
    assert len(set(all_paths)) == 30  # no example in two splits


def test_seeded_split_is_deterministic_and_seed_dependent():
    labels = np.repeat(np.arange(4), 25)
    first = stratified_split(labels, 0.2, seed=3)
    assert all(np.array_equal(a, b) for a, b in zip(first, stratified_split(labels, 0.2, seed=3)))
    assert not np.array_equal(first[1], stratified_split(labels, 0.2, seed=4)[1])
    assert np.array_equal(np.bincount(labels[first[1]]), [5, 5, 5, 5])


def test_train_and_test_folders_are_used_when_present(tmp_path):
    make_image_folder(tmp_path, per_class=6, split_folders=True)
    data = load_image_folder(tmp_path, data_config(tmp_path))
    assert all("/test/" in path for path in data.test.paths)
    assert len(data.test) == 9
    assert all("/train/" in path for path in data.train.paths + data.val.paths)


@pytest.mark.parametrize("breakage, message", [
    ("missing", "data folder not found"),
    ("no_classes", "has no class folders"),
    ("empty_class", "holds no image files"),
    ("unreadable_class", "no readable images in class folder"),
    ("mismatch", "class folders differ"),
])
def test_unusable_folders_stop_with_one_clear_message(tmp_path, breakage, message):
    root = tmp_path / "data"
    if breakage == "no_classes":
        root.mkdir()
        (root / "loose.png").write_bytes(b"x")
    elif breakage == "empty_class":
        make_image_folder(root, per_class=2)
        (root / "yellow").mkdir()
    elif breakage == "unreadable_class":
        make_image_folder(root, per_class=2)
        (root / "yellow").mkdir()
        (root / "yellow" / "broken.jpg").write_bytes(b"\xff\xd8 garbage")
    elif breakage == "mismatch":
        make_image_folder(root, per_class=2, split_folders=True)
        make_image_folder(root / "test", per_class=1, classes={"purple": (100, 0, 100)})
    with pytest.raises(DataError, match=message):
        load_image_folder(root, data_config(root))


def test_disk_cache_memory_maps_the_same_images_and_feeds_the_same_batches(tmp_path):
    from lepton_tf.data.pipeline import Normalization, make_dataset

    folder = make_image_folder(tmp_path / "data", per_class=10)
    (folder / "red" / "broken.png").write_text("not an image")  # skipped images must not shift the rest
    in_memory = load_image_folder(folder, data_config(folder))
    on_disk = load_image_folder(folder, data_config(folder, "data.cache=disk"), tmp_path / "cache")
    for split in ("train", "val", "test"):
        memory_split, disk_split = getattr(in_memory, split), getattr(on_disk, split)
        assert isinstance(disk_split.images, np.memmap) and not isinstance(memory_split.images, np.memmap)
        assert Path(disk_split.images.filename).parent == tmp_path / "cache"
        np.testing.assert_array_equal(disk_split.images, memory_split.images)
        assert disk_split.paths == memory_split.paths
    assert len(on_disk.skipped) == len(in_memory.skipped) == 1
    normalization = Normalization.from_images(in_memory.train.images)
    assert Normalization.from_images(on_disk.train.images) == normalization
    config = data_config(folder, "data.augment.cutout=3")
    for training in (True, False):
        batches = [list(make_dataset(data.train, 3, normalization, 8, 0, config.augment if training else None))
                   for data in (in_memory, on_disk)]
        for (memory_x, memory_y), (disk_x, disk_y) in zip(*batches):
            np.testing.assert_array_equal(memory_x, disk_x)
            np.testing.assert_array_equal(memory_y, disk_y)


def test_unknown_cache_kind_is_a_config_error(tmp_path):
    from lepton_tf.errors import ConfigError

    with pytest.raises(ConfigError, match="data.cache"):
        data_config(tmp_path, "data.cache=ssd")


def test_a_run_trains_from_the_disk_cache(tmp_path, image_folder):
    from conftest import TINY_SETTINGS, as_sets
    from lepton_tf.cli import main

    run_dir = tmp_path / "run"
    settings = [f"data.source={image_folder}", *TINY_SETTINGS, "data.cache=disk", "train.epochs=2"]
    assert main(["train", str(run_dir), *as_sets(settings)]) == 0
    assert sorted(p.name for p in (run_dir / "cache" / "images").glob("train*.npy"))  # memory-mapped splits
    assert json.loads((run_dir / "model_card.json").read_text())["status"] == "done"
